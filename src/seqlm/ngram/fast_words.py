"""Compiled word handling (Numba) for `fast.py`'s kernels: words to ids without a
Python string per word, and the pieces of the ARPA reader that NumPy cannot make fast.

`Lexicon` holds words as bytes in one vector with a hash table over them (open
addressing; a slot keeps a word's first 8 bytes, so most words compare in one step).
`seqlm.ngram.Model.score` passes it a sentence (str): if ASCII, its bytes are read in
place, split as `str.split` splits, looked up and scored in one compiled call. The ARPA reader (`arpa_read.py`) reads
a block of n-gram lines with `parse_block` (numbers exactly as Python's `float` reads
them: the cases beyond the exact fast path are left to Python), or, for a block that
needs its Python path, `word_ids`, `parse_floats` and `line_widths`; `key_table` and
`contexts` find an n-gram's context with one hash probe per order. Without Numba, or
with `SEQLM_NUMBA=0`, these return None or are not called, and the callers' Python paths
run.
"""

from __future__ import annotations

import numpy as np

from seqlm.ngram import fast
from seqlm.ngram.fast import SLOTS_PER_NGRAM, numba, packed

ROOM = 1024  # words of a sentence that `text_total` scores without allocating
HEAD = 9  # int64 words before the tables in `Lexicon.pack`


class Lexicon:
    """Words -> ids and a model's tables in one int64 vector, the one array `text_total`
    passes (each argument of a compiled call costs time): the ASCII words of `ids` in one
    byte string and a hash table over them, so that an ASCII sentence is split and looked
    up compiled, without a Python string per word. Layout: [rows, unk, blob offset,
    value itemsize, base, bos, order, suffix-closed (1/0), eos, addresses (3 x order),
    sizes (3 x order), slots (rows x (first byte, end byte, id, first 8 bytes); first -1:
    empty), the bytes, then
    `text_total`'s working memory (7 x order, then `ROOM` ids): it allocates nothing for a
    sentence of up to `ROOM` words, which calls run as one thread at a time (no GIL
    release) share safely]."""

    def __init__(self, ids: dict, unk: int, tables=None, eos: int = -1) -> None:
        """`ids`: str (ASCII ones kept) or bytes -> id; without `tables`, words only;
        `eos`: the id `text_total` scores at the end when asked."""
        self.packed = p = packed(tables) if tables is not None else None  # kept: addresses
        words = [w for w in ids if isinstance(w, bytes) or w.isascii()]
        encoded = [w if isinstance(w, bytes) else w.encode() for w in words]
        blob = b"".join(encoded)
        blob += b"\0" * (-len(blob) % 8)
        ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        rows = 2 * len(words) + 1
        order = p.address.shape[1] if p else 0
        head = [rows, unk, 0]
        if p:
            head += [p.proto.itemsize, p.base, p.bos, order, p.closed, eos]
        head += [0] * (HEAD - len(head))
        start = len(head) + 6 * order
        head[2] = start + 4 * rows
        tables = [p.address.ravel(), p.size.ravel()] if p else []
        self.pack = np.concatenate([
            np.array(head, np.int64), *tables,
            np.full(4 * rows, -1, np.int64), np.frombuffer(blob, np.int64),
            np.zeros(7 * order + ROOM, np.int64),
        ])  # fmt: skip
        entries = np.stack([ends - [len(e) for e in encoded], ends, [ids[w] for w in words]])
        _fill_lexicon(self.pack, start, entries.T.astype(np.int64).ravel())
        self.kernel = None  # text -> total log10 P, with `tables` (`text_total`)
        if p is not None and fast.USE:
            self.kernel = _entry(_text, ("", self.pack, True, True))


def _entry(kernel, example: tuple):
    """`kernel`'s compiled function for arguments of these types, called without the
    dispatcher's type resolution (about 0.2 us a call; `kernel` itself if not found)."""
    kernel(*example)  # compiled, or read from Numba's cache
    signature = tuple(kernel.typeof_pyval(a) for a in example)
    found = kernel.overloads.get(signature)
    return found.entry_point if found is not None else kernel


def word_ids(lexicon: Lexicon, tokens, count: int) -> np.ndarray | None:
    """The ids of `count` words (byte strings without whitespace; unknown: `lexicon`'s
    unk), or None without Numba."""
    if not fast.USE:
        return None
    out = np.empty(count, np.int64)
    return out if _word_ids(np.frombuffer(b" ".join(tokens), np.uint8), lexicon.pack, out) else None


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


def key_table(keys: np.ndarray) -> np.ndarray:
    """A hash table (slots of key, index; 1.5 per key) over sorted int64 `keys`."""
    table = np.full(2 * (int(len(keys) * SLOTS_PER_NGRAM) + 1), -1, np.int64)
    _fill_keys(np.ascontiguousarray(keys, dtype=np.int64), table)
    return table


def contexts(tables: list[np.ndarray], words: list[np.ndarray], base: int) -> np.ndarray:
    """Index of each (words[0][i], ..., words[-1][i]) among the n-grams of order
    len(words) (-1: absent): `tables[m]` is `key_table` of order m + 1's keys (m >= 1)."""
    out = np.array(words[0], np.int64)
    for m in range(1, len(words)):
        _find_keys(tables[m], np.ascontiguousarray(words[m], dtype=np.int64), base, out)
    return out


def suffix_closed(tables) -> bool | None:
    """Whether the last n-1 words of every n-gram of `tables` are an n-gram of the model
    (then no n-gram is found past the first order missing: `fast.py` stops there); None
    without Numba. lmplz's models and seqlm's own are; a pruned ARPA may not be."""
    if not fast.USE:
        return None
    base, suffix = tables.base, None  # per n-gram of the order below: its suffix's index
    for n in range(2, tables.order + 1):
        keys = np.asarray(tables.keys[n - 1])
        words = keys % base
        if n == 2:  # a bigram's suffix is its word, whose index is the word
            suffix = words
            continue
        # the suffix of (w1..wn) is the suffix of its context (w1..wn-1), then wn
        found = suffix[keys // base]
        _find_keys(key_table(np.asarray(tables.keys[n - 2])), words, base, found)
        if (found < 0).any():
            return False
        suffix = found
    return True


def text_total(lexicon: Lexicon, text: str, bos: bool, eos: bool) -> float:
    """`total` of an ASCII sentence, split on whitespace as `str.split`, `</s>` scored
    when `eos`; NaN if `text` is not ASCII (`lexicon.kernel(text, lexicon.pack, eos, bos)`:
    the compiled call itself, which reads the str's own bytes)."""
    return _text(text, lexicon.pack, eos, bos)


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
    from seqlm.ngram.fast import _MULTIPLIER, _home, _pointer, _prefetch, _run

    _FNV_START = np.uint64(14695981039346656037)
    _FNV_PRIME = np.uint64(1099511628211)

    @numba.njit(cache=True, inline="always")
    def _space(c):
        """ASCII whitespace as `str.split` sees it (\\t \\n \\v \\f \\r, 28-31, space)."""
        return c == 32 or 9 <= c <= 13 or 28 <= c <= 31

    @numba.njit(cache=True, inline="always")
    def _word_key(text, begin, end):
        """A word's hash and its first 8 bytes as one integer (most words: all of it)."""
        head = np.uint64(0)
        for k in range(min(end - begin, 8)):
            head |= np.uint64(text[begin + k]) << np.uint64(8 * k)
        h = (head ^ np.uint64(end - begin)) * _MULTIPLIER
        for k in range(begin + 8, end):
            h = (h ^ np.uint64(text[k])) * _FNV_PRIME
        return np.int64(h), np.int64(head)

    @numba.njit(cache=True, inline="always")
    def _same(text, start, end, blob, first):
        for i in range(end - start):  # noqa: SIM110 - a loop Numba compiles well
            if text[start + i] != blob[first + i]:
                return False
        return True

    @numba.njit(cache=True, inline="always")
    def _blob(pack):
        return numba.carray(_pointer(pack.ctypes.data + 8 * pack[2]), 8 * (len(pack) - pack[2]),
                            np.uint8)  # fmt: skip

    @numba.njit(cache=True)
    def _fill_lexicon(pack, start, entries):
        """Put the words (entries: first byte, end byte, id) into `Lexicon`'s slots of
        (first byte, end byte, id, first 8 bytes)."""
        rows, blob = pack[0], _blob(pack)
        for e in range(len(entries) // 3):
            h, head = _word_key(blob, entries[3 * e], entries[3 * e + 1])
            s = _home(h, rows)
            while pack[start + 4 * s] >= 0:
                s = s + 1 if s + 1 < rows else 0
            pack[start + 4 * s : start + 4 * s + 3] = entries[3 * e : 3 * e + 3]
            pack[start + 4 * s + 3] = head

    @numba.njit(cache=True, inline="always")
    def _lookup_word(text, begin, end, pack, start, blob):
        rows = pack[0]
        h, head = _word_key(text, begin, end)
        s = _home(h, rows)
        while True:
            at = start + 4 * s
            first = pack[at]
            if first < 0:
                return pack[1]  # unk
            same = pack[at + 3] == head and pack[at + 1] - first == end - begin
            if same and _same(text, begin + 8, end, blob, first + 8):
                return pack[at + 2]
            s = s + 1 if s + 1 < rows else 0

    _PROTO32, _PROTO64 = np.zeros(0, np.float32), np.zeros(0, np.float64)
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
    def _word_ids(text, pack, out):
        start, blob = HEAD + 6 * pack[6], _blob(pack)
        count, i = 0, 0
        while i <= len(text) and count < len(out):
            j = i
            while j < len(text) and text[j] != 32:
                j += 1
            out[count] = _lookup_word(text, i, j, pack, start, blob)
            count, i = count + 1, j + 1
        return count == len(out) and i > len(text)

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

    @numba.njit(cache=True, inline="always")
    def _key_home(key, rows):
        return _home(np.int64(np.uint64(key) * _MULTIPLIER), rows)

    @numba.njit(cache=True)
    def _fill_keys(keys, table):
        rows = len(table) // 2
        for i in range(len(keys)):
            s = _key_home(keys[i], rows)
            while table[2 * s] >= 0:
                s = s + 1 if s + 1 < rows else 0
            table[2 * s], table[2 * s + 1] = keys[i], i

    @numba.njit(cache=True)
    def _find_keys(table, words, base, prefix):
        """prefix[i] = index of the key prefix[i] * base + words[i] (-1: absent)."""
        rows, start = len(table) // 2, table.ctypes.data
        for i in range(len(words)):
            if i + 8 < len(words) and prefix[i + 8] >= 0:
                _prefetch(start + 16 * _key_home(prefix[i + 8] * base + words[i + 8], rows))
            if prefix[i] < 0:
                continue
            wanted = prefix[i] * base + words[i]
            s = _key_home(wanted, rows)
            while table[2 * s] != wanted and table[2 * s] >= 0:
                s = s + 1 if s + 1 < rows else 0
            prefix[i] = table[2 * s + 1] if table[2 * s] == wanted else -1

    @numba.njit(cache=True)
    def _text(sentence, pack, eos, start_bos):
        if not sentence._is_ascii:  # its words need the Python dict
            return np.nan
        text = numba.carray(sentence._data, len(sentence), np.uint8)  # one byte a char
        final = pack[8] if eos else -1
        order = pack[6]
        start, blob = HEAD + 6 * order, _blob(pack)
        scratch = len(pack) - 7 * order - ROOM
        state, floats = pack[scratch : scratch + 4 * order], pack[scratch + 4 * order :]
        floats = floats[: 3 * order].view(np.float64)
        state[:] = 0
        floats[:] = 0.0
        room = len(text) // 2 + 1
        ids = pack[len(pack) - ROOM :] if room <= ROOM else np.empty(room, np.int64)
        count, i = 0, 0
        while i < len(text):
            if _space(text[i]):
                i += 1
                continue
            j = i + 1
            while j < len(text) and not _space(text[j]):
                j += 1
            ids[count] = _lookup_word(text, i, j, pack, start, blob)
            count += 1
            i = j
        address = pack[HEAD : HEAD + 3 * order].reshape((3, order))
        size = pack[HEAD + 3 * order : HEAD + 6 * order].reshape((3, order))
        if pack[3] == 4:
            return _run(ids[:count], address, size, _PROTO32, pack[4], pack[5], -1, final,
                        start_bos, floats[:0], ids[:0], False, state, floats, pack[7])  # fmt: skip
        return _run(ids[:count], address, size, _PROTO64, pack[4], pack[5], -1, final,
                    start_bos, floats[:0], ids[:0], False, state, floats, pack[7])  # fmt: skip

else:  # pragma: no cover - only where numba is absent

    def _fill_lexicon(*args):
        raise RuntimeError("numba is not installed")

    _text = _parse_floats = _word_ids = _fill_keys = _find_keys = _line_widths = _parse_block = (
        _fill_lexicon
    )
