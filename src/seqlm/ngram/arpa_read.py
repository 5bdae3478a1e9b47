"""Reading ARPA files fast: NumPy over blocks of lines, not a Python loop per n-gram.

The file is read in blocks of about a megabyte of whole lines. In each block one pass
over the bytes counts the tokens of every line (validating the shape of all lines at
once), `bytes.split` cuts the tokens, and C-level iteration (`map(float, ...)`,
`map(dict.get, ...)`) turns them into numbers and word ids; an n-gram's prefix is found
by binary search in the already sorted keys of the order below. Arrays are allocated
once from the header's counts, so the peak memory is the model's arrays plus one
block's temporaries and the sort of one order. Errors name the file and line.

With Numba (`fast_arpa.py`) a block of n-grams is read in one compiled pass instead
(numbers, word ids, shape checks; the contexts found by one hash probe per order), with
exactly the same arrays; a block with anything irregular in it goes the NumPy way, which
names the problem.

The whole stream is read to its end, past `\\end\\`, so a `.gz` file's CRC is checked.
"""

from __future__ import annotations

import gzip
import os
import zlib
from itertools import repeat
from pathlib import Path

import numpy as np

from seqlm.io import SeqlmError
from seqlm.ngram import fast, fast_arpa, fast_words
from seqlm.ngram.counts import find_keys
from seqlm.ngram.smoothing import NgramTables

BOS = "<s>"
LOG_ZERO = -99.0
BLOCK = 1 << 18
_WHITESPACE = np.zeros(256, bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True  # exactly what bytes.split() splits on


class _Lines:
    """Whole lines of a binary stream, one at a time (header) or in blocks (sections)."""

    def __init__(self, f, path: Path):
        self.f, self.path = f, path
        self.buf, self.pos, self.eof = b"", 0, False
        self.lineno = 0  # lines consumed so far

    def error(self, message: str, lineno: int | None = None) -> SeqlmError:
        return SeqlmError(f"{self.path}:{self.lineno if lineno is None else lineno}: {message}")

    def _fill(self, wanted: int) -> None:
        """Have at least `wanted` unread bytes buffered, or everything left."""
        if self.pos > BLOCK:
            self.buf, self.pos = self.buf[self.pos :], 0
        while not self.eof and len(self.buf) - self.pos < wanted:
            more = self.f.read(max(BLOCK, wanted))
            if not more:
                self.eof = True
                if self.buf and not self.buf.endswith(b"\n"):
                    self.buf += b"\n"
            else:
                self.buf += more

    def line(self) -> str | None:
        """The next non-blank line, stripped; None at the end of the file."""
        while True:
            end = self.buf.find(b"\n", self.pos)
            while end < 0 and not self.eof:
                self._fill(len(self.buf) - self.pos + BLOCK)
                end = self.buf.find(b"\n", self.pos)
            if end < 0:
                return None
            raw, self.pos = self.buf[self.pos : end], end + 1
            self.lineno += 1
            text = raw.strip()
            if text:
                return text.decode("utf-8")

    def block(self) -> tuple[bytes, int] | None:
        """Whole data lines up to the next line starting with a backslash (None there)."""
        self._fill(BLOCK)
        buf, pos = self.buf, self.pos
        if pos >= len(buf) or buf[pos : pos + 1] == b"\\":
            return None
        limit = pos + BLOCK
        end = buf.find(b"\n\\", pos, limit)
        if end < 0:
            end = buf.rfind(b"\n", pos, limit)
        while end < 0:  # one line longer than a block
            self._fill(len(self.buf) - self.pos + BLOCK)
            buf, pos = self.buf, self.pos
            end = buf.find(b"\n", pos)
        data, self.pos = buf[pos : end + 1], end + 1
        first = self.lineno + 1
        self.lineno += data.count(b"\n")
        return data, first

    def drain(self) -> str | None:
        """Read to the end of the stream (a gzip CRC is checked there); any text left."""
        while not self.eof:
            self._fill(len(self.buf) - self.pos + BLOCK)
        rest = self.buf[self.pos :].strip()
        self.pos = len(self.buf)
        return rest[:40].decode("utf-8", "replace") if rest else None


def read_arpa(path: str | os.PathLike) -> tuple[list[str], NgramTables]:
    """Return (words, tables); ids are the unigrams in file order, then `<s>` last.
    Probabilities and backoffs are float32, as KenLM holds them."""
    path = Path(path)
    if not path.exists():
        raise SeqlmError(f"{path}: no such ARPA file")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return _parse(_Lines(f, path))
    except (UnicodeDecodeError, OSError, EOFError, zlib.error) as e:
        raise SeqlmError(f"{path}: unreadable ARPA file ({e.__class__.__name__})") from None
    except MemoryError:
        raise SeqlmError(f"{path}: the header declares more n-grams than memory holds") from None


def _header(lines: _Lines) -> tuple[list[int], str | None]:
    """The declared count of every order, and the first line after them."""
    line = lines.line()
    while line is not None and line != "\\data\\":
        line = lines.line()  # free text before \data\ is allowed
    if line is None:
        raise lines.error("no \\data\\ section: not an ARPA file")
    declared: list[int] = []
    line = lines.line()
    while line is not None and line.startswith("ngram "):
        order_text, _, count_text = line[6:].partition("=")
        try:
            n, count = int(order_text), int(count_text)
        except ValueError:
            raise lines.error(f"bad count line {line!r}") from None
        if n != len(declared) + 1 or count < 0:
            raise lines.error(f"bad count line {line!r}")
        declared.append(count)
        line = lines.line()
    if not declared:
        raise lines.error("no 'ngram N=count' lines after \\data\\")
    return declared, line


def _parse(lines: _Lines) -> tuple[list[str], NgramTables]:
    declared, line = _header(lines)
    order = len(declared)
    words: list[str] = []
    ids: dict[bytes, int] = {}
    keys, probs, backs = [], [], []
    hashed: list = [None]  # per order >= 2, a hash table of its keys (`fast_words.key_table`)
    for n in range(1, order + 1):
        if line != f"\\{n}-grams:":
            raise lines.error(f"expected \\{n}-grams:, found {line!r}")
        section = _Section(lines, n, declared[n - 1], n < order)
        section.hashed = hashed if fast.enabled() else None
        while (got := lines.block()) is not None:
            block, first = got
            if n == 1:
                section.add_unigrams(block, first)
            else:
                section.add(block, first, ids, keys, words)
        if section.filled != declared[n - 1]:
            raise lines.error(f"\\{n}-grams: header says {declared[n - 1]}, found {section.filled}")
        if n == 1:
            words, ids, k, p, b = section.vocabulary()
        else:
            k, p, b = section.sorted()
            if fast.enabled() and n < order:  # the contexts of the orders above
                hashed.append(fast_words.key_table(k))
        keys.append(k), probs.append(p), backs.append(b)
        line = lines.line()
    if line != "\\end\\":
        raise lines.error(f"expected \\end\\, found {line!r}")
    if (rest := lines.drain()) is not None:
        raise lines.error(f"text after \\end\\: {rest!r}")
    backs[-1] = np.broadcast_to(np.float32(0), (len(keys[-1]),))  # no backoff at the top
    tables = NgramTables(len(words), keys, probs, backs)
    if fast.enabled():  # with the contexts' hash tables at hand: one probe per n-gram
        tables.suffix_closed = fast_words.suffix_closed(tables, hashed)
    return words, tables


class _Section:
    """The n-grams of one order, parsed block by block into preallocated arrays."""

    def __init__(self, lines: _Lines, n: int, count: int, has_backoff: bool):
        self.lines, self.n, self.count, self.filled = lines, n, count, 0
        self.keys = np.empty(count, np.int64)
        self.prob = np.empty(count, np.float32)
        self.back = np.zeros(count, np.float32) if has_backoff else None
        self.unigrams: list[bytes] = []
        self.lexicon = None  # words -> ids for the compiled lookup (`fast_words.Lexicon`)
        self.hashed: list | None = None  # `_parse`'s hash tables of the orders below

    def _split(self, block: bytes, first: int):
        """Per non-blank line: its line number, its token index, and the numbers."""
        n, lines = self.n, self.lines
        arr = np.frombuffer(block, np.uint8)
        per_line = fast_arpa.line_widths(arr, block.count(b"\n"))  # compiled, one pass
        if per_line is None:
            space = _WHITESPACE[arr]
            starts = ~space
            starts[1:] &= space[:-1]
            newlines = np.flatnonzero(arr == 10)
            per_line = np.bincount(
                np.searchsorted(newlines, np.flatnonzero(starts)), minlength=len(newlines)
            )
        rows = np.flatnonzero(per_line)
        width = per_line[rows]
        lineno = first + rows
        bad = (width != n + 1) & (width != n + 2)
        if bad.any():
            at = int(np.argmax(bad))
            newlines = np.flatnonzero(arr == 10)
            start = newlines[rows[at] - 1] + 1 if rows[at] else 0
            text = block[start : newlines[rows[at]]].decode("utf-8", "replace").strip()
            raise lines.error(f"expected a {n}-gram line, found {text!r}", int(lineno[at]))
        if self.filled + len(rows) > self.count:
            extra = self.count - self.filled
            raise lines.error(
                f"\\{n}-grams: header says {self.count}, found more", int(lineno[extra])
            )
        tokens = block.split()
        if not len(rows):  # blank lines only
            return lineno, lambda j: [], np.zeros(0), None
        if (width == width[0]).all():  # the usual case: every line has the same shape
            w = int(width[0])
            column = lambda j: tokens[j::w]  # noqa: E731
            has_back = np.full(len(rows), w == n + 2)
        else:
            table = np.array(tokens, dtype=object)
            offset = np.cumsum(width) - width
            column = lambda j: table[np.minimum(offset + j, len(tokens) - 1)]  # noqa: E731
            has_back = width == n + 2
        prob = self._numbers(column(0), lineno)
        if (prob > 0).any():
            at = int(np.argmax(prob > 0))
            raise lines.error(f"positive log10 probability {prob[at]:g}", int(lineno[at]))
        back = None
        if has_back.any():
            back = np.where(has_back, self._numbers(column(n + 1), lineno, has_back), 0.0)
        return lineno, column, prob, back

    def _numbers(self, values, lineno: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
        if use is not None and not use.all():  # rows without that column: parse a dummy
            values = np.where(use, np.asarray(values, dtype=object), b"0")
        out = fast_arpa.parse_floats(values, len(lineno))  # compiled; exactly `float`'s values
        if out is not None:
            return out
        try:
            out = np.fromiter(map(float, values), np.float64, len(lineno))
        except ValueError:
            out = None
        if out is None or not np.isfinite(out).all():
            for i, v in enumerate(values):
                try:
                    ok = np.isfinite(float(v))
                except ValueError:
                    ok = False
                if not ok:
                    raise self.lines.error(
                        f"bad number {v.decode('utf-8', 'replace')!r}", int(lineno[i])
                    )
        return out

    def _store(self, key, prob, back) -> None:
        at = slice(self.filled, self.filled + len(prob))
        self.keys[at], self.prob[at] = key, prob
        if self.back is not None and back is not None:
            self.back[at] = back
        self.filled = at.stop

    def add_unigrams(self, block: bytes, first: int) -> None:
        lineno, column, prob, back = self._split(block, first)
        self.unigrams.extend(column(1))
        self._store(np.arange(self.filled, self.filled + len(prob)), prob, back)

    def vocabulary(self):
        """Words in file order with `<s>` moved last; its probability is 1 if not given."""
        words = [w.decode("utf-8") for w in self.unigrams]
        if len(set(words)) != len(words):
            raise SeqlmError(f"{self.lines.path}: duplicate unigrams")
        position = {w: i for i, w in enumerate(words)}
        bos_at = position.pop(BOS, None)
        words = [w for w in words if w != BOS] + [BOS]
        base = len(words)
        order = [position[w] for w in words[:-1]]
        prob = np.full(base, 0.0, np.float32)
        back = np.zeros(base, np.float32)
        prob[:-1], back[:-1] = self.prob[order], self.back[order] if self.back is not None else 0
        if bos_at is not None:
            prob[-1] = self.prob[bos_at]
            back[-1] = self.back[bos_at] if self.back is not None else 0
        ids = {w.encode("utf-8"): i for i, w in enumerate(words)}
        return words, ids, np.arange(base, dtype=np.int64), prob, back

    def add(self, block: bytes, first: int, ids: dict, keys: list, words: list) -> None:
        n = self.n
        if self.lexicon is None and fast.enabled():  # the unigrams, compiled
            self.lexicon = fast_words.Lexicon(ids, -1)
        room = self.count - self.filled
        got = fast_arpa.parse_block(self.lexicon, block, n, room) if self.lexicon else None
        if got is not None:  # compiled: the same numbers as below, in one pass
            rows, matrix, prob, back = got
            lineno, word = first + rows, [matrix[:, j] for j in range(n)]
            return self._store(self._key(word, keys, words, lineno), prob, back)
        lineno, column, prob, back = self._split(block, first)
        word = [self._ids(column(1 + j), ids, len(lineno)) for j in range(n)]
        for j in range(n):
            if (word[j] < 0).any():
                at = int(np.argmax(word[j] < 0))
                name = column(1 + j)[at].decode("utf-8", "replace")
                raise self.lines.error(
                    f"{n}-gram uses {name!r}, which is not a unigram", int(lineno[at])
                )
        self._store(self._key(word, keys, words, lineno), prob, back)

    def _key(self, word: list, keys: list, words: list, lineno: np.ndarray) -> np.ndarray:
        """Each n-gram's key: its context's index * base + its last word."""
        n, base = self.n, len(words)
        if self.hashed is not None:  # compiled: one hash probe per order
            prefix = fast_words.contexts(self.hashed, word[: n - 1], base)
        else:
            prefix = word[0]
            for j in range(1, n - 1):
                prefix = find_keys(keys[j], prefix * base + word[j])  # -1 stays -1
        if (prefix < 0).any():
            at = int(np.argmax(prefix < 0))
            gram = " ".join(words[w[at]] for w in word)
            raise self.lines.error(f"the context of {gram!r} is not in the model", int(lineno[at]))
        return prefix * base + word[n - 1]

    def _ids(self, tokens, ids: dict, count: int) -> np.ndarray:
        out = fast_words.word_ids(self.lexicon, tokens, count) if self.lexicon else None
        if out is None:  # no Numba
            out = np.fromiter(map(ids.get, tokens, repeat(-1)), np.int64, count)
        return out

    def sorted(self):
        """The arrays in key order, permuted one at a time (one spare copy at most)."""
        if len(self.keys) > 1 and not (np.diff(self.keys) > 0).all():
            order = np.argsort(self.keys)  # introsort: no buffer beyond `order`
            self.keys = self.keys[order]
            self.prob = self.prob[order]
            if self.back is not None:
                self.back = self.back[order]
            del order
            if not (np.diff(self.keys) > 0).all():
                raise SeqlmError(f"{self.lines.path}: duplicate {self.n}-grams")
        keys, prob, back = self.keys, self.prob, self.back
        self.keys = self.prob = self.back = None
        return keys, prob, back
