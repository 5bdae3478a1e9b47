"""Bulk scoring on a Dask cluster: the same per-document figures as `seqlm score`, one
partition at a time, on any number of machines.

Each worker process loads the model once, on its first partition, and keeps it
(`cached_model`); an n-gram directory is memory-mapped, so the worker processes of one
machine share its pages. The model path must be readable from every worker (shared
storage). Needs the `scale` extra (``pip install 'seqlm[scale]'``).
"""

from __future__ import annotations

import os
from typing import Any

from seqlm.data.documents import Document
from seqlm.evaluate.bulk import combine, score_texts
from seqlm.evaluate.bulk_file import PARQUET_FIELDS, cached_model
from seqlm.io import SeqlmError

COLUMNS = tuple(name for name, _ in PARQUET_FIELDS if name != "line")


def score_partition(part: Any, model_path: str | os.PathLike, field: str = "text") -> Any:
    """One partition's scores: a pandas DataFrame gets the score columns (`COLUMNS`) added
    to its own; a list of texts (or of dicts with `field`) becomes a list of records."""
    model = cached_model(os.fspath(model_path))
    if hasattr(part, "columns"):  # a pandas DataFrame
        if field not in part.columns:
            raise SeqlmError(f"no column {field!r} (columns: {', '.join(map(str, part.columns))})")
        texts = part[field].tolist()
        records = _records(model, texts)
        out = part.copy()
        for name in COLUMNS:
            out[name] = [r[name] for r in records]
        return out
    texts = [item[field] if isinstance(item, dict) else item for item in part]
    return _records(model, texts)


def _records(model, texts: list) -> list[dict]:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise SeqlmError(f"document {i} of a partition is {type(text).__name__}, not text")
    docs = [Document(i + 1, text) for i, text in enumerate(texts)]
    return [s.to_json() for s in combine(docs, score_texts(model, texts))]


def score_dask(data: Any, model_path: str | os.PathLike, field: str = "text") -> Any:
    """`data` scored lazily: a dask DataFrame (its `field` column) gets the score columns;
    a dask Bag of texts or of dicts becomes a Bag of records. Call `.compute()` (or write
    it out with `to_parquet`) to run it on the cluster."""
    path = os.fspath(model_path)
    if hasattr(data, "map_partitions") and hasattr(data, "columns"):
        import pandas as pd

        meta = data._meta.copy()
        for name, kind in PARQUET_FIELDS:
            if name != "line":
                meta[name] = pd.Series(dtype=kind)
        return data.map_partitions(score_partition, path, field, meta=meta)
    if hasattr(data, "map_partitions"):
        return data.map_partitions(score_partition, path, field)
    raise TypeError(f"score_dask takes a dask DataFrame or Bag, not {type(data).__name__}")
