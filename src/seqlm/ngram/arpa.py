"""ARPA files, the lingua franca of n-gram models (KenLM, SRILM, every ASR toolkit).

    \\data\\
    ngram 1=10002
    ...
    \\1-grams:
    -5.3312373	<unk>	0
    ...
    \\end\\

Each line is ``log10 p <TAB> w_1 ... w_n [<TAB> log10 backoff]``. `.gz` files are read
and written compressed. Reading checks the counts, the sections and the numbers, and any
problem is reported with its line number.
"""

from __future__ import annotations

import gzip
import io
import math
import os
from pathlib import Path

import numpy as np

from seqlm.errors import SeqlmError
from seqlm.ngram.smoothing import NgramTables

BOS, EOS = "<s>", "</s>"
LOG_ZERO = -99.0  # what toolkits write for probability 0


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


def read_arpa(path: str | os.PathLike) -> tuple[list[str], NgramTables]:
    """Return (words, tables); ids are the unigrams in file order, then `<s>` last."""
    path = Path(path)
    if not path.exists():
        raise SeqlmError(f"{path}: no such ARPA file")
    try:
        with _open(path, "r") as f:
            return _parse(f, path)
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise SeqlmError(f"{path}: unreadable ARPA file ({e.__class__.__name__})") from None


def _parse(f, path: Path) -> tuple[list[str], NgramTables]:
    lineno = 0

    def error(message: str) -> SeqlmError:
        return SeqlmError(f"{path}:{lineno}: {message}")

    def next_line() -> str | None:
        nonlocal lineno
        for line in f:
            lineno += 1
            line = line.strip()
            if line:
                return line
        return None

    line = next_line()
    while line is not None and line != "\\data\\":
        line = next_line()  # free text before \data\ is allowed
    if line is None:
        raise error("no \\data\\ section: not an ARPA file")
    declared: list[int] = []
    line = next_line()
    while line is not None and line.startswith("ngram "):
        order_text, _, count_text = line[6:].partition("=")
        try:
            n, count = int(order_text), int(count_text)
        except ValueError:
            raise error(f"bad count line {line!r}") from None
        if n != len(declared) + 1 or count < 0:
            raise error(f"bad count line {line!r}")
        declared.append(count)
        line = next_line()
    if not declared:
        raise error("no 'ngram N=count' lines after \\data\\")
    order = len(declared)
    columns: list[list] = []
    for n in range(1, order + 1):
        if line != f"\\{n}-grams:":
            raise error(f"expected \\{n}-grams:, found {line!r}")
        probs, backoffs, grams = [], [], []
        line = next_line()
        while line is not None and not line.startswith("\\"):
            fields = line.split()
            if len(fields) not in (n + 1, n + 2):
                raise error(f"expected a {n}-gram line, found {line!r}")
            try:
                probs.append(float(fields[0]))
                backoffs.append(float(fields[n + 1]) if len(fields) == n + 2 else 0.0)
            except ValueError:
                raise error(f"bad number in {line!r}") from None
            if not all(map(math.isfinite, (probs[-1], backoffs[-1]))):
                raise error(f"bad number in {line!r}")
            grams.append(fields[1 : n + 1])
            line = next_line()
        if len(grams) != declared[n - 1]:
            raise error(f"\\{n}-grams: header says {declared[n - 1]}, found {len(grams)}")
        columns.append((grams, np.array(probs), np.array(backoffs)))
    if line != "\\end\\":
        raise error(f"expected \\end\\, found {line!r}")
    return _build(columns, path)


def _build(columns, path: Path) -> tuple[list[str], NgramTables]:
    unigrams, uni_prob, uni_backoff = columns[0]
    words = [g[0] for g in unigrams if g[0] != BOS]
    if len(set(words)) != len(words):
        raise SeqlmError(f"{path}: duplicate unigrams")
    words.append(BOS)
    ids = {w: i for i, w in enumerate(words)}
    base = len(words)
    prob1 = np.full(base, LOG_ZERO)
    back1 = np.zeros(base)
    order_of = np.array([ids[g[0]] for g in unigrams], dtype=np.int64)
    prob1[order_of], back1[order_of] = uni_prob, uni_backoff
    if BOS not in {g[0] for g in unigrams}:
        prob1[base - 1] = 0.0
    keys, probs, backs = [np.arange(base, dtype=np.int64)], [prob1], [back1]
    for n, (grams, prob, back) in enumerate(columns[1:], 2):
        try:
            word_ids = np.array([[ids[w] for w in g] for g in grams], dtype=np.int64)
        except KeyError as e:
            raise SeqlmError(
                f"{path}: {n}-gram uses {e.args[0]!r}, which is not a unigram"
            ) from None
        word_ids = word_ids.reshape(len(grams), n)
        prefix = word_ids[:, 0]
        for j in range(1, n - 1):
            prefix = _find(keys[j], prefix * base + word_ids[:, j], grams, path)
        k = prefix * base + word_ids[:, n - 1]
        order = np.argsort(k, kind="stable")
        k = k[order]
        if len(k) > 1 and (np.diff(k) == 0).any():
            raise SeqlmError(f"{path}: duplicate {n}-grams")
        keys.append(k)
        probs.append(prob[order])
        backs.append(back[order])
    backs[-1] = np.zeros(len(keys[-1]))
    return words, NgramTables(base, keys, probs, backs)


def _find(keys: np.ndarray, wanted: np.ndarray, grams, path: Path) -> np.ndarray:
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    missing = keys[at] != wanted
    if missing.any():
        gram = " ".join(grams[int(np.flatnonzero(missing)[0])])
        raise SeqlmError(f"{path}: the context of {gram!r} is not in the model")
    return at
