"""Compiled pieces (Numba) of the ARPA reader (`arpa_read.py`) that NumPy cannot make fast:
`parse_block` reads a block of n-gram lines at once (numbers exactly as Python's `float`
reads them: the cases beyond the exact fast path are left to Python); for a block that
needs the Python path, `parse_floats` and `line_widths` (with `fast_words.word_ids`).
Without Numba, or with `SEQLM_NUMBA=0`, these return None and the Python path runs.
"""

from __future__ import annotations

import numpy as np

from seqlm.ngram import fast
from seqlm.ngram.fast import numba
from seqlm.ngram.fast_words import HEAD, Lexicon


def line_widths(block: np.ndarray, lines: int) -> np.ndarray | None:
    """The number of tokens (split on ASCII whitespace, as `bytes.split`) on each of the
    `lines` newline-ended lines of `block` (uint8), or None without Numba."""
    if not fast.USE:
        return None
    out = np.zeros(lines, np.int64)
    _line_widths(block, out)
    return out


def parse_block(lexicon: Lexicon, block: bytes, n: int, room: int):
    """(line index, word ids (lines x n), log10 p, backoff) of the n-gram lines of
    `block`, at most `room`; None where the block needs the Python reader (Numba off,
    or anything irregular: see `_parse_block`)."""
    if not fast.USE:
        return None
    lines = block.count(b"\n") + 1
    room = min(room, lines)
    words, rows = np.empty((room, n), np.int64), np.empty(room, np.int64)
    prob, back = np.empty(room), np.empty(room)
    got = _parse_block(np.frombuffer(block, np.uint8), n, lexicon.pack, words, prob, back, rows)
    if got < 0:
        return None
    return rows[:got], words[:got], prob[:got], back[:got]


def parse_floats(tokens, count: int) -> np.ndarray | None:
    """`count` numbers from byte strings, each exactly as Python's `float` reads it; None
    (the caller parses them itself) if one is beyond the exact fast path: more than 18
    digits, an exponent beyond 1e±22, or anything but [+-]digits[.digits][e[+-]digits]."""
    if not fast.USE:
        return None
    out = np.empty(count)
    ok = _parse_floats(np.frombuffer(b" ".join(tokens), np.uint8), out)
    return out if ok else None


if numba is not None:
    from seqlm.ngram.fast_words import _blob, _lookup_word

    _TENS = 10.0 ** np.arange(23)  # exact in float64

    @numba.njit(cache=True, inline="always")
    def _number(text, i, end):
        """(ok, value) of text[i:end]: m * 10^e with m < 2^53 and |e| <= 22 is one
        correctly rounded operation on exact operands (Clinger's fast path), so the value
        is the correctly rounded one `float` gives; not ok beyond that or if malformed."""
        negative = text[i] == 45  # -
        if text[i] == 45 or text[i] == 43:  # - +
            i += 1
        mantissa, digits, scale, seen = 0, 0, 0, False
        while i < end and 48 <= text[i] <= 57:
            mantissa, seen = mantissa * 10 + text[i] - 48, True
            digits += mantissa > 0  # leading zeros do not count
            i += 1
        if i < end and text[i] == 46:  # .
            i += 1
            while i < end and 48 <= text[i] <= 57:
                mantissa, seen = mantissa * 10 + text[i] - 48, True
                digits += mantissa > 0
                scale -= 1
                i += 1
        if not seen or digits > 18:
            return False, 0.0
        if i < end and (text[i] == 101 or text[i] == 69):  # e E
            i += 1
            sign = -1 if i < end and text[i] == 45 else 1
            if i < end and (text[i] == 45 or text[i] == 43):
                i += 1
            exponent, seen = 0, False
            while i < end and 48 <= text[i] <= 57 and exponent < 1000:
                exponent, seen = exponent * 10 + text[i] - 48, True
                i += 1
            if not seen:
                return False, 0.0
            scale += sign * exponent
        if i != end or mantissa >= 1 << 53 or scale > 22 or scale < -22:
            return False, 0.0
        value = float(mantissa)
        value = value * _TENS[scale] if scale >= 0 else value / _TENS[-scale]
        return True, -value if negative else value

    @numba.njit(cache=True)
    def _parse_floats(text, out):
        """Space-separated numbers into `out` (`_number`); False if not all fit."""
        i, count = 0, 0
        while i < len(text):
            j = i
            while j < len(text) and text[j] != 32:
                j += 1
            if count == len(out) or j == i:
                return False
            ok, out[count] = _number(text, i, j)
            if not ok:
                return False
            count, i = count + 1, j + 1
        return count == len(out)

    @numba.njit(cache=True, inline="always")
    def _white(c):
        return c == 32 or 9 <= c <= 13  # what bytes.split splits on

    @numba.njit(cache=True)
    def _parse_block(block, n, pack, words, prob, back, rows):
        """The n-gram lines of `block`: log10 p, word ids, backoff (0 if none) and line
        index of each non-blank line; -1 at anything irregular (a line's shape, a number
        beyond `_number`, a positive log10 p, an unknown word, more lines than room):
        the caller's Python path then reads the block and names the problem."""
        start, blob = HEAD + 6 * pack[6], _blob(pack)
        begin, end = np.empty(n + 2, np.int64), np.empty(n + 2, np.int64)
        row, line, i, size = 0, 0, 0, len(block)
        while i < size:
            k = 0
            while i < size and block[i] != 10:
                if _white(block[i]):
                    i += 1
                    continue
                j = i
                while j < size and not _white(block[j]):
                    j += 1
                if k == n + 2:
                    return -1
                begin[k], end[k], k, i = i, j, k + 1, j
            i += 1  # the newline
            line += 1
            if k == 0:
                continue
            if (k != n + 1 and k != n + 2) or row == len(prob):
                return -1
            ok, prob[row] = _number(block, begin[0], end[0])
            if not ok or prob[row] > 0:
                return -1
            for m in range(n):
                words[row, m] = _lookup_word(block, begin[1 + m], end[1 + m], pack, start, blob)
                if words[row, m] < 0:
                    return -1
            back[row] = 0.0
            if k == n + 2:
                ok, back[row] = _number(block, begin[n + 1], end[n + 1])
                if not ok:
                    return -1
            rows[row] = line - 1
            row += 1
        return row

    @numba.njit(cache=True)
    def _line_widths(block, out):
        line, inside = 0, False
        for c in block:
            space = c == 32 or 9 <= c <= 13
            if not space and not inside and line < len(out):
                out[line] += 1
            inside = not space
            if c == 10:
                line += 1


else:  # pragma: no cover - only where numba is absent

    def _parse_block(*args):
        raise RuntimeError("numba is not installed")

    _parse_floats = _line_widths = _parse_block
