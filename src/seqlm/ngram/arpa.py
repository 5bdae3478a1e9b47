"""ARPA files, the lingua franca of n-gram models (KenLM, SRILM, every ASR toolkit).

    \\data\\
    ngram 1=10002
    ...
    \\1-grams:
    -5.3312373	<unk>	0
    ...
    \\end\\

Each line is ``log10 p <TAB> w_1 ... w_n [<TAB> log10 backoff]``. `.gz` files are read
and written compressed. Reading (`arpa_read`) checks the counts, the sections and the
numbers, and any problem is reported with its line number.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np

from seqlm.ngram.arpa_read import BOS, LOG_ZERO, read_arpa
from seqlm.ngram.smoothing import NgramTables

EOS = "</s>"
__all__ = ["BOS", "EOS", "LOG_ZERO", "read_arpa", "write_arpa"]


def _open(path: Path, mode: str):
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8", compresslevel=1)
    return open(path, mode, encoding="utf-8")


def _fmt(values: np.ndarray) -> list[str]:
    values = np.where(np.isfinite(values), values, LOG_ZERO)
    return [f"{v:.8g}" for v in values.tolist()]


def write_arpa(tables: NgramTables, words: list[str], path: str | os.PathLike) -> None:
    """`words[i]` names id i (the last id, `<s>`, included). Written atomically."""
    from seqlm.io import atomic_write

    path = Path(path)
    base = tables.base

    def body(f: io.TextIOBase) -> None:
        f.write("\\data\\\n")
        for n, keys in enumerate(tables.keys, 1):
            f.write(f"ngram {n}={len(keys)}\n")
        names: list[str] = words
        for n in range(1, tables.order + 1):
            keys = tables.keys[n - 1]
            if n > 1:  # an n-gram's name is its prefix's name plus its last word
                prefixes, lasts = (keys // base).tolist(), (keys % base).tolist()
                names = [names[p] + " " + words[w] for p, w in zip(prefixes, lasts, strict=True)]
            f.write(f"\n\\{n}-grams:\n")
            probs = _fmt(tables.log10_prob[n - 1])
            if n < tables.order:
                backoffs = _fmt(tables.log10_backoff[n - 1])
                rows = zip(probs, names, backoffs, strict=True)
                f.write("".join(f"{p}\t{t}\t{b}\n" for p, t, b in rows))
            else:
                f.write("".join(f"{p}\t{t}\n" for p, t in zip(probs, names, strict=True)))
        f.write("\n\\end\\\n")

    def write(tmp: str) -> None:
        opener = gzip.open if path.suffix == ".gz" else open
        kwargs = {"compresslevel": 1} if path.suffix == ".gz" else {}
        with opener(tmp, "wt", encoding="utf-8", **kwargs) as f:
            body(f)

    atomic_write(path, write)
