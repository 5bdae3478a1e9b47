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


BLOCK = 1 << 17  # n-grams formatted at once


def _fmt(values: np.ndarray) -> np.ndarray:
    values = np.where(np.isfinite(values), values, LOG_ZERO).tolist()
    return np.array(list(map("{:.8g}".format, values)), dtype=object)


def _names(tables: NgramTables, n: int, keys: np.ndarray, words, spaced) -> np.ndarray:
    """The text of order-n n-grams: their words found by walking the prefix links."""
    base, columns, at = tables.base, [], keys
    for j in range(n - 1, 0, -1):
        columns.append(at % base)
        at = np.asarray(tables.keys[j - 1][at // base]) if j > 1 else at // base
    text = words[at]
    for column in reversed(columns):
        text = text + spaced[column]  # elementwise str concatenation, in C
    return text


def write_arpa(tables: NgramTables, words: list[str], path: str | os.PathLike) -> None:
    """`words[i]` names id i (the last id, `<s>`, included). Written atomically, in blocks
    of n-grams formatted with NumPy object arrays (no Python loop per n-gram)."""
    from seqlm.io import atomic_write

    path = Path(path)
    word_text = np.array(words, dtype=object)
    spaced = np.array([" " + w for w in words], dtype=object)

    def body(f: io.TextIOBase) -> None:
        f.write("\\data\\\n")
        for n, keys in enumerate(tables.keys, 1):
            f.write(f"ngram {n}={len(keys)}\n")
        for n in range(1, tables.order + 1):
            f.write(f"\n\\{n}-grams:\n")
            keys = tables.keys[n - 1]
            for lo in range(0, len(keys), BLOCK):
                hi = min(lo + BLOCK, len(keys))
                at = np.asarray(keys[lo:hi])
                text = word_text[at] if n == 1 else _names(tables, n, at, word_text, spaced)
                lines = _fmt(np.asarray(tables.log10_prob[n - 1][lo:hi])) + "\t" + text
                if n < tables.order:
                    lines = lines + "\t" + _fmt(np.asarray(tables.log10_backoff[n - 1][lo:hi]))
                f.write("\n".join(lines.tolist()) + "\n")
        f.write("\n\\end\\\n")

    def write(tmp: str) -> None:
        opener = gzip.open if path.suffix == ".gz" else open
        kwargs = {"compresslevel": 1} if path.suffix == ".gz" else {}
        with opener(tmp, "wt", encoding="utf-8", **kwargs) as f:
            body(f)

    atomic_write(path, write)
