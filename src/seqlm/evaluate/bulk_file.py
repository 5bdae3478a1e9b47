"""`seqlm score`: a file of documents in, one line (or Parquet row) of figures per document
out, in order, in constant memory.

Documents are read and written in batches; with `workers` > 1 the batches go to that many
processes, each loading the model once (an n-gram directory is memory-mapped, so the
processes share its pages), and at most two batches per process are in flight, so memory
stays bounded however large the input is. The output is written to a temporary file and
renamed into place at the end: a failed or interrupted run leaves no half-written file.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from seqlm.data.documents import FORMATS, Document, read_documents
from seqlm.evaluate.bulk import DocScore, batched, combine, score_documents, score_texts
from seqlm.io import SeqlmError, atomic_write, check_output_file
from seqlm.settings import MAX_THREADS, setting

PARQUET_FIELDS = (
    ("line", "int64"),
    ("tokens", "int64"),
    ("bytes", "int64"),
    ("logprob", "float64"),
    ("bits", "float64"),
    ("perplexity", "float64"),
    ("bits_per_byte", "float64"),
    ("oov", "int64"),
)


@dataclass
class ScoreConfig:
    """What `seqlm score` is asked, besides the model, the input and the output."""

    field: str = setting("text", "the text field of JSONL, Parquet and datasets input")
    id_field: str | None = setting(None, "a field copied to each output record as its id")
    format: str | None = setting(
        None, "the input's format (default: from its name)", choices=FORMATS
    )
    workers: int = setting(1, "processes, each loading the model once", min=1, max=MAX_THREADS)
    batch: int = setting(512, "documents scored together", min=1, max=1_000_000)
    keep_between: tuple[float, float] | None = setting(
        None, "write only documents whose perplexity lies in [LO, HI]", flag=False
    )


@dataclass
class ScoreSummary:
    documents: int = 0
    kept: int = 0
    tokens: int = 0
    bytes: int = 0
    nats: float = 0.0  # the documents' total negative log-probability
    seconds: float = 0.0

    def to_json(self) -> dict:
        finite = math.isfinite(self.nats) and self.tokens
        return {
            "documents": self.documents,
            "kept": self.kept,
            "tokens": self.tokens,
            "perplexity": math.exp(min(self.nats / self.tokens, 700.0)) if finite else None,
            "bits_per_byte": self.nats / math.log(2) / self.bytes
            if finite and self.bytes
            else None,
            "seconds": round(self.seconds, 3),
            "documents_per_s": round(self.documents / self.seconds, 1) if self.seconds else None,
            "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else None,
        }


def in_band(score: DocScore, band: tuple[float, float] | None) -> bool:
    if band is None:
        return True
    ppl = score.perplexity
    return ppl is not None and band[0] <= ppl <= band[1]


def check_band(band) -> tuple[float, float] | None:
    if band is None:
        return None
    low, high = (float(x) for x in band)
    if not (math.isfinite(low) and low <= high):
        raise SeqlmError(f"--keep-between needs LO <= HI, got {low:g} {high:g}")
    return low, high


def score_file(
    model_path: str | os.PathLike,
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    field: str | None = None,
    id_field: str | None = None,
    fmt: str | None = None,
    workers: int = 1,
    keep_between: tuple[float, float] | None = None,
    batch: int = 512,
    overwrite: bool = False,
    progress: bool = True,
) -> ScoreSummary:
    """Score every document of `input_path` with the model at `model_path`; write one
    record per document (JSONL, or Parquet when `out` ends in ``.parquet``) to `out`,
    only those whose perplexity lies in `keep_between` when it is given."""
    from seqlm.progress import bar

    band = check_band(keep_between)
    out = check_output_file(out)
    if out.exists() and not overwrite:
        raise SeqlmError(f"{out}: exists; pass --overwrite (overwrite=True) to replace it")
    if workers < 1:
        raise SeqlmError(f"workers must be at least 1, got {workers}")
    documents = read_documents(input_path, field, id_field, fmt)
    first = next(documents, None)  # bad input fails here, before any model is loaded
    if first is not None:
        documents = _chain(first, documents)
    summary = ScoreSummary()
    start = time.perf_counter()
    shown = bar(None, "scoring", enabled=progress, unit="doc")

    def counted(scores: Iterable[DocScore]) -> Iterator[DocScore]:
        for score in scores:
            summary.documents += 1
            summary.tokens += score.tokens
            summary.bytes += score.bytes
            summary.nats -= score.logprob
            if summary.documents % 1000 == 0:
                shown.update(1000)
            if in_band(score, band):
                summary.kept += 1
                yield score

    def write(tmp: str) -> None:
        scores = scored(model_path, documents, workers, batch)
        writer = _write_parquet if Path(out).suffix.lower() == ".parquet" else _write_jsonl
        writer(tmp, counted(scores))

    try:
        atomic_write(out, write)
    finally:
        shown.update(summary.documents % 1000)
        shown.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _chain(first: Document, rest: Iterator[Document]) -> Iterator[Document]:
    yield first
    yield from rest


def scored(
    model_path: str | os.PathLike, documents: Iterable[Document], workers: int, batch: int
) -> Iterator[DocScore]:
    """The documents' scores in input order, in this process or in `workers` processes."""
    if workers == 1:
        yield from score_documents(cached_model(str(model_path)), documents, batch)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    pending: deque = deque()
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_warm, initargs=(str(model_path),)
        ) as pool:
            for docs in batched(documents, batch):
                pending.append(
                    (docs, pool.submit(_score_batch, str(model_path), [d.text for d in docs]))
                )
                while len(pending) > 2 * workers:
                    docs_done, future = pending.popleft()
                    yield from combine(docs_done, future.result())
            while pending:
                docs_done, future = pending.popleft()
                yield from combine(docs_done, future.result())
    except BrokenProcessPool:
        raise SeqlmError("a scoring process died (out of memory?); try --workers 1") from None


def cached_model(path: str):
    """The model at `path`, loaded once per process (an n-gram directory is mapped, so
    processes on one machine share its pages)."""
    from seqlm.loading import load

    model = _MODELS.get(path)
    if model is None:
        model = _MODELS[path] = load(path)
    return model


_MODELS: dict = {}


def _warm(path: str) -> None:
    import sys

    cached_model(path)
    if "torch" in sys.modules:  # a neural model: one core per process, they are the parallelism
        sys.modules["torch"].set_num_threads(1)


def _score_batch(path: str, texts: list[str]) -> list[tuple[int, float, int]]:
    return score_texts(cached_model(path), texts)


def _write_jsonl(path: str, scores: Iterable[DocScore]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for score in scores:
            f.write(json.dumps(score.to_json(), ensure_ascii=False, default=str) + "\n")


def _write_parquet(path: str, scores: Iterable[DocScore]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for chunk in batched(scores, 65_536):
            records = [s.to_json() for s in chunk]
            columns = {name: [r.get(name) for r in records] for name, _ in PARQUET_FIELDS}
            fields = [pa.field(name, getattr(pa, kind)()) for name, kind in PARQUET_FIELDS]
            if any(s.id is not None for s in chunk):
                columns = {"id": [str(s.id) for s in chunk], **columns}
                fields = [pa.field("id", pa.string()), *fields]
            table = pa.table(columns, schema=pa.schema(fields))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        if writer is None:  # no documents kept: an empty table with the columns
            schema = pa.schema([pa.field(n, getattr(pa, k)()) for n, k in PARQUET_FIELDS])
            writer = pq.ParquetWriter(path, schema)
    finally:
        if writer is not None:
            writer.close()
