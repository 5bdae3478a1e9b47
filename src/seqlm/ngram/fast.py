"""Compiled n-gram scoring (Numba), the fast path of `NgramLM.score_positions`'s algorithm.

The NumPy path looks every order up for all tokens at once and pays per call for its
temporaries: fine for a corpus, slow for one sentence. These kernels walk the tokens once,
keeping the indices of the n-grams that end at the previous token (the state KenLM keeps),
and find an n-gram of order n >= 2 by its key `prefix index * base + word` in an
open-addressing hash table (linear probing, 1.5 slots per n-gram, as KenLM's probing
model): about one cache line per order and token, where a binary search over the sorted
keys costs a dozen. The tables are built once per model, in memory, on first use (24
bytes per n-gram of order >= 2; about 0.05 s per million n-grams); the sorted keys on
disk stay the model's format. Results are the NumPy path's bit for bit: the same n-grams
are found, and the same float32 (or float64) values are added in the same order in float64.

Numba is optional (`pip install seqlm[fast]`); without it, or with `SEQLM_NUMBA=0`, the
NumPy path runs. Kernels compile once per installation (`cache=True`: about 2-5 s the
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
SLOTS_PER_NGRAM = 1.5  # hash table size / n-grams: 16 bytes a slot (key, index)


def enabled() -> bool:
    return USE


class Packed:
    """A model's tables as the kernels take them: per order, a hash table of (key, index)
    slots and C-contiguous values of one float dtype (8-bit quantised columns decoded:
    exact)."""

    def __init__(self, tables) -> None:
        order, base = tables.order, tables.base
        columns = [*tables.log10_prob, *tables.log10_backoff[: order - 1]]
        values = [np.asarray(c[:] if not isinstance(c, np.ndarray) else c) for c in columns]
        dtype = np.float64 if any(v.dtype == np.float64 for v in values) else np.float32
        # copied into one allocation: NumPy asks Linux for huge pages (fewer TLB misses)
        pool = np.concatenate([v.astype(dtype, copy=False) for v in values])
        ends = np.cumsum([len(v) for v in values])
        values = [pool[e - len(v) : e] for v, e in zip(values, ends, strict=True)]
        empty = np.zeros(0, dtype)
        slots = [np.zeros(0, np.int64)]  # unigrams: the word is the index
        for keys in tables.keys[1:]:
            keys = np.ascontiguousarray(np.asarray(keys), dtype=np.int64)
            # allocated by NumPy, which asks Linux for huge pages (fewer TLB misses)
            table = np.full(2 * (int(len(keys) * SLOTS_PER_NGRAM) + 1), -1, np.int64)
            _build(keys, table)
            slots.append(table)
        self.slots = tuple(slots)
        self.prob = tuple(values[:order])
        self.back = (*values[order:], empty)  # the highest order has no backoff
        self.base, self.bos = base, tables.bos
        # the kernels take each kind of array as one vector of addresses: indexing a tuple
        # of arrays by order at run time costs Numba more than the search itself
        arrays = (self.slots, self.prob, self.back)
        self.address = np.array([[a.ctypes.data for a in kind] for kind in arrays], np.int64)
        self.size = np.array([[len(a) for a in kind] for kind in arrays], np.int64)
        self.proto = empty
        self.nbytes = sum(s.nbytes for s in self.slots)

    def stream(self, ids: np.ndarray, eos: int) -> np.ndarray:
        out = np.empty(len(ids))
        _run(ids, self.address, self.size, self.proto, self.base, self.bos, eos, -1, True,
             out, _NO_LEN, True)  # fmt: skip
        return out


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
                 scores)  # fmt: skip
    return total, out, length


def total(tables, ids: np.ndarray, bos: bool, eos: int) -> float:
    """`sentence`'s total alone, with the least Python per call (`kenlm.Model.score`)."""
    p = tables.__dict__.get("_packed") or packed(tables)
    return _total(ids, p.address, p.size, p.proto, p.base, p.bos, eos, bos)


if numba is not None:
    from numba.core import cgutils
    from numba.extending import intrinsic

    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2^64 / golden ratio
    _SHIFT = np.uint64(32)

    @intrinsic
    def _pointer(typingctx, address):
        """An int64 address as a void pointer (for `numba.carray`)."""

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], cgutils.voidptr_t)

        return numba.types.voidptr(numba.types.int64), codegen

    @numba.njit(cache=True, inline="always")
    def _array(address, size, kind, n, dtype):
        return numba.carray(_pointer(address[kind, n]), size[kind, n], dtype)

    @numba.njit(cache=True, inline="always")
    def _home(key, rows):
        """The first slot to probe for `key`: the hash's high 32 bits scaled to `rows`."""
        h = (np.uint64(key) * _MULTIPLIER) >> _SHIFT
        return np.int64((h * np.uint64(rows)) >> _SHIFT)

    @numba.njit(cache=True)
    def _build(keys, slots):
        """Slots [2 s] = key, [2 s + 1] = its index in `keys` (-1: empty), linear probing."""
        rows = len(slots) >> 1
        for i in range(len(keys)):
            s = _home(keys[i], rows)
            while slots[2 * s] >= 0:
                s = s + 1 if s + 1 < rows else 0
            slots[2 * s] = keys[i]
            slots[2 * s + 1] = i

    @numba.njit(cache=True, inline="always")
    def _probe(slots, s, wanted, key):
        """Index of `wanted` (-1: absent), probing from slot s whose key is `key`."""
        rows = len(slots) >> 1
        while key != wanted:
            if key < 0:
                return -1
            s = s + 1 if s + 1 < rows else 0
            key = slots[2 * s]
        return slots[2 * s + 1]

    @numba.njit(cache=True)
    def _run(ids, address, size, proto, base, bos, reset, final, start_bos, out, length, write):
        order = address.shape[1]
        history = np.full(order, -1, np.int64)  # [m - 1]: the m-gram ending just before
        found = np.empty(order, np.int64)
        home, wanted, first = np.empty(order, np.int64), np.empty(order, np.int64), np.empty(order, np.int64)
        if start_bos:
            history[0] = bos
        total = 0.0
        count = len(ids) + (1 if final >= 0 else 0)
        for i in range(count):
            word = ids[i] if i < len(ids) else final
            found[0] = word
            # first the home slot of every order, loaded together: the loads do not wait
            # on one another, so their cache misses overlap; then the probes from there
            for n in range(2, order + 1):
                prefix = history[n - 2]
                home[n - 1] = -1
                if prefix >= 0 and word != bos:
                    slots = _array(address, size, 0, n - 1, np.int64)
                    wanted[n - 1] = prefix * base + word
                    home[n - 1] = _home(wanted[n - 1], len(slots) >> 1)
                    first[n - 1] = slots[2 * home[n - 1]]
            best = 1
            for n in range(2, order + 1):
                at = -1
                if home[n - 1] >= 0:
                    slots = _array(address, size, 0, n - 1, np.int64)
                    at = _probe(slots, home[n - 1], wanted[n - 1], first[n - 1])
                found[n - 1] = at
                if at >= 0:
                    best = n
            prob = _array(address, size, 1, best - 1, proto.dtype)
            value = np.float64(prob[found[best - 1]])
            for m in range(best, order):  # backoffs of the longer histories not matched
                context = history[m - 1]
                if context >= 0:
                    value += np.float64(_array(address, size, 2, m - 1, proto.dtype)[context])
            total += value
            if write:
                out[i] = value
                if len(length):
                    length[i] = best
            if word == reset:  # a new sentence: its history is `<s>`
                history[:] = -1
                history[0] = bos
            else:
                for m in range(order):
                    history[m] = found[m]
        return total

    @numba.njit(cache=True)
    def _total(ids, address, size, proto, base, bos, final, start_bos):
        none = np.empty(0)
        return _run(ids, address, size, proto, base, bos, -1, final, start_bos, none,
                    none.astype(np.int64), False)  # fmt: skip

else:  # pragma: no cover - only where numba is absent

    def _build(keys, slots):
        raise RuntimeError("numba is not installed")

    _run = _total = _build
