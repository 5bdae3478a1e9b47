"""Compiled n-gram scoring (Numba), the fast path of `NgramLM.score_positions`'s algorithm.

The NumPy path looks every order up for all tokens at once and pays per call for its
temporaries: fine for a corpus, slow for one sentence. These kernels walk the tokens once,
keeping the n-grams that end at the previous token (the state KenLM keeps), and find an
n-gram of order n >= 2 in an open-addressing hash table built from the sorted keys once per
model, on first use (linear probing, 1.5 slots per n-gram, as KenLM's probing model).
A slot holds the n-gram's key and its log10 p and backoff, so a token costs about one
cache line per order, where a binary search costs a dozen. An n-gram is known by its slot,
and its key is its context's slot * base + its last word; the first slot probed comes
from a hash of its words, which is known before its context's slot is, so the slots of
the tokens a few positions on are prefetched while the current one is looked up. In a
suffix-closed model (every n-gram's last n-1 words an n-gram too: lmplz's and seqlm's
are; checked when the tables are built) the orders are looked up from the shortest and
the search stops at the first one absent, as KenLM's does; in any other, every order is.

Memory: 24 bytes per n-gram of order >= 2 (float64 tables: 36), in RAM beside the mapped
model; built at about 30 ns per n-gram. Results are the NumPy path's bit for bit: the
same n-grams are found, and the same float32 (or float64) values are added in the same
order in float64.

`fast_words.py` adds the words: an ASCII sentence split and looked up compiled, so that
`seqlm.ngram.Model.score` is one compiled call with no Python string per word.

Numba is optional (`pip install seqlm[fast]`); without it, or with `SEQLM_NUMBA=0`, the
NumPy path runs. Kernels compile once per installation (`cache=True`: about 5-10 s the
first time, then loaded from Numba's cache in well under a second).
"""

from __future__ import annotations

import os

import numpy as np

try:  # optional: the NumPy path is the fallback
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None


# the compiled path runs when Numba imports and `SEQLM_NUMBA` is not "0" (read at import)
USE = numba is not None and os.environ.get("SEQLM_NUMBA", "1") != "0"
SLOTS_PER_NGRAM = 1.5  # hash table slots per n-gram (16 bytes a slot; float64: 24)
PROBING = 1  # the version of the hash tables' layout and hash, as saved in model directories


def enabled() -> bool:
    return USE


class Packed:
    """A model's tables as the kernels take them: unigram values by word, and per order
    n >= 2 a hash table whose slots hold an n-gram's key, log10 p and backoff (8-bit
    quantised columns decoded: exact)."""

    def __init__(self, tables) -> None:
        order, base = tables.order, tables.base
        columns = [*tables.log10_prob, *tables.log10_backoff[: order - 1]]
        wide = any(np.asarray(c[:0]).dtype == np.float64 for c in columns)
        dtype = np.float64 if wide else np.float32

        def column(c) -> np.ndarray:  # 8-bit quantised ones decoded
            return np.ascontiguousarray(c[:] if not isinstance(c, np.ndarray) else c, dtype)

        # a slot is `width` int64 words: the key (-1: empty), then log10 p and backoff
        # (two float32 in one word, or two float64 words). An n-gram is known by its
        # slot: its key is the slot of its first n-1 words * base + its last word
        width = 2 if dtype == np.float32 else 3
        slots = [np.zeros(0, np.int64)]  # unigrams: known by the word
        if tables.probing:  # saved with the model (`binary.py`): mapped, not built
            slots += tables.probing
        else:
            hashes = _unigram_hashes(base)
            where = np.arange(base, dtype=np.int64)  # the slot of each n-gram of order n - 1
            for n in range(2, order + 1):
                keys = np.ascontiguousarray(np.asarray(tables.keys[n - 1]), dtype=np.int64)
                # allocated by Numba: NumPy would ask Linux for huge pages, which cost more
                # time to clear and compact (system CPU) than they save in TLB misses here
                table = _empty_slots(width * slot_rows(len(keys)))
                prob = column(tables.log10_prob[n - 1])
                b = column(tables.log10_backoff[n - 1]) if n < order else np.zeros(len(keys), dtype)
                hashes, where = _build(keys, base, hashes, where, table, table.view(dtype), prob,
                                       b, width)  # fmt: skip
                slots.append(table)
        # every n-gram's suffix is in the model (lmplz's and seqlm's are; known for a model
        # read from an ARPA or saved): the kernels then stop at the first order not found,
        # as KenLM's do, since no longer one can be; not known: every order is looked up
        self.closed = int(bool(tables.suffix_closed))
        self.slots = tuple(slots)
        unigram_back = column(tables.log10_backoff[0]) if order > 1 else np.zeros(base, dtype)
        self.unigram = (column(tables.log10_prob[0]), unigram_back)
        self.base, self.bos = base, tables.bos
        # the kernels take the arrays as addresses: indexing a tuple of arrays by order at
        # run time costs Numba more than the search itself. Row 0: the slots of each
        # order; [1, 0] and [2, 0]: the unigrams' log10 p and backoff
        self.address = np.zeros((3, order), np.int64)
        self.size = np.zeros((3, order), np.int64)
        for n, table in enumerate(self.slots):
            self.address[0, n], self.size[0, n] = table.ctypes.data, len(table)
        for kind, column in enumerate(self.unigram, 1):
            self.address[kind, 0], self.size[kind, 0] = column.ctypes.data, len(column)
        self.proto = np.zeros(0, dtype)
        self.nbytes = sum(s.nbytes for s in self.slots)

    def stream(self, ids: np.ndarray, eos: int) -> np.ndarray:
        out = np.empty(len(ids))
        _run(ids, self.address, self.size, self.proto, self.base, self.bos, eos, -1, True,
             out, _NO_LEN, True, *_state(self.address.shape[1]), self.closed)  # fmt: skip
        return out


def slot_rows(ngrams: int) -> int:
    """Slots of an order's hash table for this many n-grams."""
    return int(ngrams * SLOTS_PER_NGRAM) + 1


def packed(tables) -> Packed:
    """The kernels' view of `tables`, built on first use and kept with them."""
    cached = tables.__dict__.get("_packed")
    if cached is None:
        cached = tables.__dict__["_packed"] = Packed(tables)
    return cached


_NO_OUT = np.zeros(0)


_NO_LEN = np.zeros(0, np.int64)


def stream_log10(tables, ids: np.ndarray, eos: int) -> np.ndarray:
    """log10 p of every token of a stream of sentences, each ended by `eos` and read
    after `<s>`: what `NgramLM.log10_probs` returns."""
    return packed(tables).stream(ids, eos)


def sentence(
    tables, ids: np.ndarray, bos: bool, eos: int, scores: bool
) -> tuple[float, np.ndarray, np.ndarray]:
    """One sentence (`eos` >= 0: `</s>` scored after it): the total log10 P and, when
    `scores`, the log10 p and matched length of every token."""
    p = packed(tables)
    n = len(ids) + (eos >= 0)
    out, length = (np.empty(n), np.empty(n, np.int64)) if scores else (_NO_OUT, _NO_LEN)
    total = _run(ids, p.address, p.size, p.proto, p.base, p.bos, -1, eos, bos, out, length,
                 scores, *_state(p.address.shape[1]), p.closed)  # fmt: skip
    return total, out, length


def total(tables, ids: np.ndarray, bos: bool, eos: int) -> float:
    """`sentence`'s total alone, with the least Python per call (`kenlm.Model.score`)."""
    p = tables.__dict__.get("_packed") or packed(tables)
    return _total(ids, p.address, p.size, p.proto, p.base, p.bos, eos, bos, p.closed)


if numba is not None:
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2^64 / golden ratio
    _SHIFT = np.uint64(32)
    BUILD_AHEAD = 16  # n-grams between prefetching a slot and filling it
    AHEAD = 4  # tokens between prefetching a token's slots and probing them

    @intrinsic
    def _pointer(typingctx, address):
        """An int64 address as a void pointer (for `numba.carray`)."""

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], cgutils.voidptr_t)

        return numba.types.voidptr(numba.types.int64), codegen

    @numba.njit(cache=True, inline="always")
    def _array(address, size, kind, n, dtype):
        return numba.carray(_pointer(address[kind, n]), size[kind, n], dtype)

    @intrinsic
    def _prefetch(typingctx, address):
        """Ask the CPU to bring the cache line at `address` in (LLVM's prefetch)."""

        def codegen(context, builder, signature, args):
            i32 = ir.IntType(32)
            kind = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, kind, "llvm.prefetch.p0i8")
            read, keep, data = ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)
            builder.call(fn, [builder.inttoptr(args[0], cgutils.voidptr_t), read, keep, data])
            return context.get_dummy_value()

        return numba.types.none(numba.types.int64), codegen

    @numba.njit(cache=True, inline="always")
    def _extend(context_hash, word):
        """Hash of an n-gram's words from its first n-1 words' hash and its last word."""
        h = np.uint64(context_hash)
        return np.int64(((h ^ (h >> _SHIFT)) + np.uint64(word + 1)) * _MULTIPLIER)

    @numba.njit(cache=True)
    def _empty_slots(size):
        return np.full(size, -1, np.int64)

    @numba.njit(cache=True)
    def _unigram_hashes(base):
        hashes = np.empty(base, np.int64)
        for w in range(base):
            hashes[w] = _extend(0, w)
        return hashes

    @numba.njit(cache=True, inline="always")
    def _home(word_hash, rows):
        """The first slot to probe for an n-gram: its words' hash scaled to `rows`."""
        return np.int64(((np.uint64(word_hash) >> _SHIFT) * np.uint64(rows)) >> _SHIFT)

    @numba.njit(cache=True)
    def _build(keys, base, context_hashes, context_slots, slots, values, prob, back, width):
        """Fill `slots` (linear probing) from the slot of each n-gram's words' hash, not
        of its key: the hash of the words to come is known before their context's index
        is, so the kernels prefetch. Returns the hashes and slots (the next order's
        contexts)."""
        rows = len(slots) // width
        per = len(values) // len(slots)  # values in an int64 word: 2 (float32) or 1
        hashes = np.empty(len(keys), np.int64)
        where = np.empty(len(keys), np.int64)
        prefix = 0  # keys are sorted: their prefixes never decrease (no division)
        for i in range(len(keys)):
            while keys[i] >= (prefix + 1) * base:
                prefix += 1
            hashes[i] = _extend(context_hashes[prefix], keys[i] - prefix * base)
        start = slots.ctypes.data
        prefix = 0
        for i in range(len(keys)):
            while keys[i] >= (prefix + 1) * base:
                prefix += 1
            if i + BUILD_AHEAD < len(keys):
                _prefetch(start + 8 * width * _home(hashes[i + BUILD_AHEAD], rows))
            s = _home(hashes[i], rows)
            while slots[width * s] >= 0:
                s = s + 1 if s + 1 < rows else 0
            slots[width * s] = context_slots[prefix] * base + keys[i] - prefix * base
            values[(width * s + 1) * per] = prob[i]
            values[(width * s + 1) * per + 1] = back[i]
            where[i] = s
        return hashes, where

    @numba.njit(cache=True, inline="always")
    def _probe(slots, width, s, wanted):
        """Slot of `wanted` (-1: absent), probing from slot s."""
        rows = len(slots) // width
        key = slots[width * s]
        while key != wanted:
            if key < 0:
                return -1
            s = s + 1 if s + 1 < rows else 0
            key = slots[width * s]
        return s

    @numba.njit(cache=True, inline="always")
    def _advance(hashes, word):
        """`hashes[m - 1]`, of the m-gram ending at the previous token, now at `word`."""
        for n in range(len(hashes), 1, -1):
            hashes[n - 1] = _extend(hashes[n - 2], word)
        hashes[0] = _extend(0, word)

    @numba.njit(cache=True)
    def _state(order):
        """`_run`'s working memory, for a caller that has none of its own to lend."""
        return np.zeros(4 * order, np.int64), np.zeros(3 * order)

    @numba.njit(cache=True)
    def _run(ids, address, size, proto, base, bos, reset, final, start_bos, out, length, write,
             state, floats, closed):  # fmt: skip
        order = address.shape[1]
        per = 8 // proto.itemsize  # values in an int64 word: 2 (float32) or 1
        width = 1 + 2 // per  # int64 words in a slot
        unigram_prob = _array(address, size, 1, 0, proto.dtype)
        unigram_back = _array(address, size, 2, 0, proto.dtype)
        # [m - 1]: of the m-gram ending at the previous token: index (-1: none), backoff,
        # and hash of its words; the same for the current token; the hashes AHEAD on.
        # `state` (4 x order) and `floats` (3 x order) come from the caller, zeroed: a
        # sentence scored alone spends as long on an allocation as on two words
        history, words = state[:order], state[order : 2 * order]
        found, ahead = state[2 * order : 3 * order], state[3 * order :]
        backoff, found_back = floats[:order], floats[order : 2 * order]
        found_prob = floats[2 * order :]
        history[:] = -1
        if start_bos:
            history[0] = bos
            backoff[0] = unigram_back[bos]
            words[0] = ahead[0] = _extend(0, bos)
        total = 0.0
        count = len(ids) + (1 if final >= 0 else 0)
        for j in range(-AHEAD, count):
            k = j + AHEAD  # prefetch the slots of the token AHEAD positions on
            if k < count:
                word = ids[k] if k < len(ids) else final
                _advance(ahead, word)
                for n in range(2, order + 1):
                    rows = size[0, n - 1] // width
                    _prefetch(address[0, n - 1] + 8 * width * _home(ahead[n - 1], rows))
                if word == reset:
                    ahead[0] = _extend(0, bos)
            if j < 0:
                continue
            i = j
            word = ids[i] if i < len(ids) else final
            _advance(words, word)
            found[0] = word
            found_prob[0] = unigram_prob[word]
            found_back[0] = unigram_back[word]
            best = 1
            found[1:] = -1
            for n in range(2, order + 1):
                prefix = history[n - 2]
                if prefix >= 0 and word != bos:
                    slots = _array(address, size, 0, n - 1, np.int64)
                    s = _probe(slots, width, _home(words[n - 1], len(slots) // width),
                               prefix * base + word)  # fmt: skip
                    if s >= 0:
                        values = numba.carray(_pointer(address[0, n - 1]), per * len(slots),
                                              proto.dtype)  # fmt: skip
                        found[n - 1] = s
                        found_prob[n - 1] = values[(width * s + 1) * per]
                        found_back[n - 1] = values[(width * s + 1) * per + 1]
                        best = n
                    elif closed:  # no longer n-gram can be in the model
                        break
                elif closed:
                    break
            value = found_prob[best - 1]
            for m in range(best, order):  # backoffs of the longer histories not matched
                if history[m - 1] >= 0:
                    value += backoff[m - 1]
            total += value
            if write:
                out[i] = value
                if len(length):
                    length[i] = best
            if word == reset:  # a new sentence: its history is `<s>`
                history[:] = -1
                history[0] = bos
                backoff[0] = unigram_back[bos]
                words[0] = _extend(0, bos)
            else:
                for m in range(order):
                    history[m] = found[m]
                    backoff[m] = found_back[m]
        return total

    @numba.njit(cache=True)
    def _total(ids, address, size, proto, base, bos, final, start_bos, closed):
        state, floats = _state(address.shape[1])
        return _run(ids, address, size, proto, base, bos, -1, final, start_bos, np.empty(0),
                    ids[:0], False, state, floats, closed)  # fmt: skip


else:  # pragma: no cover - only where numba is absent

    def _unigram_hashes(base):
        raise RuntimeError("numba is not installed")

    _run = _total = _build = _empty_slots = _unigram_hashes
