"""Compiled word handling (Numba) for `fast.py`'s kernels: words to ids without a
Python string per word.

`Lexicon` holds words as bytes in one vector with a hash table over them (open
addressing; a slot keeps a word's first 8 bytes, so most words compare in one step).
`seqlm.ngram.Model.score` passes it a sentence (str): if ASCII, its bytes are read in
place, split as `str.split` splits, looked up and scored in one compiled call. The ARPA
reader (`arpa_read.py`, with `fast_arpa.py`) looks words up with `word_ids`; `key_table`
and `contexts` find an n-gram's context with one hash probe per order, and
`suffix_closed` whether a model lets the kernels stop at the first order missing.
Without Numba, or with `SEQLM_NUMBA=0`, these return None or are not called, and the
callers' Python paths run.
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


def suffix_closed(tables, hashed: list | None = None) -> bool | None:
    """Whether the last n-1 words of every n-gram of `tables` are an n-gram of the model
    (then no n-gram is found past the first order missing: `fast.py` stops there); None
    without Numba. lmplz's models and seqlm's own are; a pruned ARPA may not be.
    `hashed[m]`: `key_table` of order m + 1's keys, where the caller has them."""
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
        table = hashed[n - 2] if hashed else key_table(np.asarray(tables.keys[n - 2]))
        _find_keys(table, words, base, found)
        if (found < 0).any():
            return False
        suffix = found
    return True


def text_total(lexicon: Lexicon, text: str, bos: bool, eos: bool) -> float:
    """`total` of an ASCII sentence, split on whitespace as `str.split`, `</s>` scored
    when `eos`; NaN if `text` is not ASCII (`lexicon.kernel(text, lexicon.pack, eos, bos)`:
    the compiled call itself, which reads the str's own bytes)."""
    return _text(text, lexicon.pack, eos, bos)


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

    _text = _word_ids = _fill_keys = _find_keys = _fill_lexicon
