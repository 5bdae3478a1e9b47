"""Counting n-grams of every order at once, vectorised.

Sentences follow KenLM: each line is ``<s> w_1 ... w_m </s>`` and scored on its own, so a
token at sentence position i (0-based; ``</s>`` included) has at most i + 1 tokens of
history, the first of them ``<s>``. The n-gram ending at position t is named by the pair
(index of the (n-1)-gram ending at t-1, word at t), packed as ``prefix * base + word`` in
one int64; sorting those keys sorts n-grams lexicographically and groups each context's
continuations together, and the index of an n-gram in its order's sorted keys is the
prefix of the next order. No Python loop runs per token.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass

import numpy as np

BLOCK = 1 << 20  # rows read at once from counts on disk


def read_block(array, lo: int, hi: int) -> np.ndarray:
    """array[lo:hi] as a private copy; from the file itself when `array` is a memmap, so
    a pass over a mapped table does not leave it resident."""
    if isinstance(array, np.memmap) and array.filename and os.path.exists(array.filename):
        offset = array.offset + lo * array.dtype.itemsize
        return np.fromfile(array.filename, dtype=array.dtype, count=hi - lo, offset=offset)
    return np.array(array[lo:hi])


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc keeps them after large frees,
    where they would count against the memory budget in the next pass)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


@dataclass
class Positions:
    """A token stream laid out as KenLM sentences, with one `<s>` before each."""

    tokens: np.ndarray  # int64 ids, `bos` inserted before every sentence
    position: np.ndarray  # position in the sentence: -1 for <s>, 0 for the first word ...
    targets: np.ndarray  # indices into `tokens` of the original stream's tokens, in order


def sentence_positions(ids: np.ndarray, eos: int, bos: int) -> Positions:
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids)
    ends = np.flatnonzero(ids == eos)
    starts = np.concatenate([[0], ends + 1])
    starts = starts[starts < n]
    # every original token moves right by the number of <s> inserted at or before it
    shift = np.zeros(n, np.int64)
    shift[starts] = 1
    shift = np.cumsum(shift)
    targets = np.arange(n, dtype=np.int64) + shift
    tokens = np.full(n + len(starts), bos, dtype=np.int64)
    tokens[targets] = ids
    position = np.full(len(tokens), -1, dtype=np.int64)
    sentence_start = np.repeat(starts, np.diff(np.concatenate([starts, [n]])))
    position[targets] = np.arange(n) - sentence_start
    return Positions(tokens, position, targets)


@dataclass
class OrderCounts:
    keys: np.ndarray  # sorted unique packed n-grams (order 1: every id, 0..base-1)
    raw: np.ndarray  # occurrences in the text
    suffix: np.ndarray  # index of the n-gram without its first word, in the order below
    bos_initial: np.ndarray  # bool: the n-gram starts with <s> (its history is complete)


def stable_sort(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted keys, the stable argsort). When key and position fit in 63 bits together,
    one np.sort of ``key << bits | position`` (SIMD) does it, twice as fast as argsort."""
    n = len(keys)
    bits = max(1, int(n).bit_length())
    if n == 0 or int(keys.max()).bit_length() + bits > 63 or keys.min() < 0:
        order = np.argsort(keys, kind="stable")
        return keys[order], order
    packed = np.sort((keys << bits) | np.arange(n, dtype=np.int64))
    order = packed & ((1 << bits) - 1)
    packed >>= bits
    return packed, order


def unique_counts(keys: np.ndarray) -> tuple[np.ndarray, ...]:
    """np.unique(keys, return_index, return_inverse, return_counts), from `stable_sort`."""
    n = len(keys)
    if n == 0:
        return np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    ordered, order = stable_sort(keys)
    new = np.empty(n, bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    inverse = np.empty(n, np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[starts], order[starts], inverse, np.diff(np.append(starts, n))


def count_ngrams(ids: np.ndarray, order: int, eos: int, bos: int) -> list[OrderCounts]:
    """Types, raw counts and suffix links of every order 1..`order` in the stream."""
    base = bos + 1
    pos = sentence_positions(ids, eos, bos)
    tokens, position = pos.tokens, pos.position
    is_word = tokens != bos
    unigram = np.bincount(tokens[is_word], minlength=base)
    orders = [
        OrderCounts(
            np.arange(base, dtype=np.int64),
            unigram,
            np.zeros(base, np.int64),
            np.arange(base) == bos,
        )
    ]
    index = tokens.copy()  # index of the (n-1)-gram ending at each position (-1: none)
    for n in range(2, order + 1):
        valid = np.flatnonzero(is_word & (position + 2 >= n))
        keys = index[valid - 1] * base + tokens[valid]
        types, first, inverse, raw = unique_counts(keys)
        # the suffix (this n-gram minus its first word) is the (n-1)-gram ending here
        suffix = index[valid[first]]
        bos_initial = position[valid[first]] + 2 == n
        orders.append(OrderCounts(types, raw, suffix, bos_initial))
        index = np.full(len(tokens), -1, dtype=np.int64)
        index[valid] = inverse
    return orders


def find_keys(keys: np.ndarray, wanted: np.ndarray, fence: np.ndarray | None = None) -> np.ndarray:
    """Index of each wanted key in the sorted `keys`, -1 where absent. The queries are
    sorted first: consecutive binary searches then touch the same cache lines (and pages
    of a mapped file), twice as fast on large tables. With `fence` (`fence_of(keys)`, held
    in memory) each search ends inside one run of FENCE keys: one or two pages of a mapped
    table per query instead of one per level of a binary search."""
    order = np.argsort(wanted)
    wanted = wanted[order]
    if fence is not None and len(keys) >= FENCED_FROM:
        at = _search_fenced(keys, fence, wanted)
    else:
        at = np.searchsorted(keys, wanted)
    hit = at < len(keys)
    hit[hit] = keys[at[hit]] == wanted[hit]
    out = np.full(len(wanted), -1, np.int64)
    out[order[hit]] = at[hit]
    return out


FENCE = 256  # keys per fence entry: 2 KB of a keys file, within one or two pages
# Below this many keys a plain binary search is as fast (measured here: equal at 30M keys,
# 2.6x slower at 79M); the tests lower it to run the fenced search on small tables.
FENCED_FROM = 1 << 25


def fence_of(keys: np.ndarray) -> np.ndarray:
    """Every FENCE-th key, read in blocks (BLOCK is a multiple of FENCE)."""
    parts = [
        read_block(keys, lo, min(lo + BLOCK, len(keys)))[::FENCE]
        for lo in range(0, len(keys), BLOCK)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _search_fenced(keys: np.ndarray, fence: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """np.searchsorted(keys, wanted) for sorted unique keys: the fence names each query's
    run of FENCE keys, then a vectorised bisection closes the run in log2(FENCE) + 1 steps."""
    if not len(keys):
        return np.zeros(len(wanted), np.int64)
    lo = np.maximum(np.searchsorted(fence, wanted, side="right") - 1, 0) * FENCE
    hi = np.minimum(lo + FENCE, len(keys))
    last = len(keys) - 1
    for _ in range(FENCE.bit_length()):
        mid = (lo + hi) // 2
        less = keys[np.minimum(mid, last)] < wanted
        open_ = lo < hi
        lo = np.where(open_ & less, mid + 1, lo)
        hi = np.where(open_ & ~less, mid, hi)
    return lo


def kenlm_flushed(counts: list[OrderCounts], first_seen: np.ndarray) -> list[int]:
    """Per order, the n-gram lmplz counts with its raw count in the counts-of-counts (-1: none).

    lmplz adjusts counts in one streaming pass over the highest-order n-grams sorted in
    suffix order (last word first, words numbered by first appearance). The lower-order
    n-grams still open when the stream ends are flushed with the count it tracks for
    pruning, the raw count, instead of their adjusted (continuation) count
    (`lm/builder/adjust_counts.cc`, the final loop). On PTB this is one unigram (`unilab`,
    the last new word: raw count 6 is above the counts-of-counts, adjusted 3 is not), which
    moves its unigram D3+ from 1.2623 to 1.2649; reproducing it makes our ARPA match to 1e-7.
    `first_seen[id]` orders word ids by first appearance (<s> and </s> come first).
    """
    order = len(counts)
    excluded = [-1] * order
    if order < 2:
        return excluded
    m, index = _last_in_suffix_order(counts, first_seen)
    if m < order:
        excluded[m - 1] = index
    for n in range(m - 1, 0, -1):
        index = int(counts[n].suffix[index])
        excluded[n - 1] = index
    return excluded


def _last_in_suffix_order(counts: list[OrderCounts], first_seen: np.ndarray) -> tuple[int, int]:
    """(m, index) of the last row of lmplz's stream: the highest-order n-grams and the
    lower ones that start with `<s>`, left-padded with `<s>` to the full order, compared
    by the rank of their last word, then the one before... Found by keeping, word by word
    from the end, only the rows that hold the largest rank (no sort, no word matrix)."""
    order, base = len(counts), len(counts[0].keys)
    bos = base - 1
    rows = []  # [m, index of the m-gram, index of the prefix whose last word comes next]
    for m in range(2, order + 1):
        c = counts[m - 1]
        # only the rows whose last word has the top rank can come last: of the top order,
        # and of the lower orders those that start with <s>
        index = _top_last_word(c.keys, base, first_seen, None if m == order else c.bos_initial)
        if len(index):
            rows.append([m, index, index])
    for step in range(order):  # step 0: the last word
        ranks = []
        for m, _, at in rows:
            depth = m - step  # `at` indexes the n-grams of this order
            if depth >= 2:
                word = np.asarray(counts[depth - 1].keys[at]) % base
            else:
                word = at if depth == 1 else np.full(len(at), bos)
            ranks.append(first_seen[word])
        best = max(int(r.max()) for r in ranks)
        kept = []
        for (m, index, at), r in zip(rows, ranks, strict=True):
            keep = r == best
            if keep.any():
                index, at = index[keep], at[keep]
                if m - step >= 2:
                    at = np.asarray(counts[m - step - 1].keys[at]) // base
                kept.append([m, index, at])
        rows = kept
    return rows[0][0], int(rows[0][1][0])


def _top_last_word(
    keys: np.ndarray, base: int, first_seen: np.ndarray, only: np.ndarray | None = None
) -> np.ndarray:
    """Indices of the n-grams (where `only` is set, if given) whose last word has the
    largest rank, read in blocks: what is held is the answer, not a row per n-gram."""
    best, found = -1, []
    for lo in range(0, len(keys), BLOCK):
        hi = min(lo + BLOCK, len(keys))
        rank = first_seen[read_block(keys, lo, hi) % base]
        if only is not None:
            rank[~read_block(only, lo, hi)] = -1
        top = int(rank.max())
        if top < 0:
            continue
        if top > best:
            best, found = top, []
        if top == best:
            found.append(np.flatnonzero(rank == top) + lo)
    return np.concatenate(found) if found else np.zeros(0, np.int64)
