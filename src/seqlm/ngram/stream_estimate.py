"""Modified Kneser–Ney in streaming passes over counts on disk (the bounded-memory path).

The same arithmetic as `smoothing.estimate`, in the same order, so the tables are
identical bit for bit; only what is held at once differs. For each order n:

1. adjusted counts: one pass over the order-(n+1) suffix links, in blocks, counting
   left extensions into an array the size of order n;
2. counts-of-counts from it, then the discounts;
3. one pass over order n in blocks cut at context boundaries (the keys are sorted, so a
   context's n-grams are contiguous and each context's sums are made in one block, in
   file order, as `np.bincount` makes them): probabilities interpolated with the order
   below's, looked up through each n-gram's suffix link, and per context the backoff.

Probabilities and backoffs are appended to `.npy` files as they are made (contexts come in
ascending order, so the backoffs of order n-1 are written in order too) and mapped when
done. Reads go through `np.fromfile`, so counts on disk do not stay resident. Two arrays
are random access: order n's adjusted counts (4 bytes per n-gram; none for the top order,
whose counts are raw) and order n-1's probabilities (8 bytes per n-gram). Each is held
while it fits `hold` bytes; past that it is made a range at a time (`partition.py`) into
a file in row order, read in blocks like the counts. So the peak is bounded at any size:
two arrays of at most `hold` bytes and a block's temporaries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqlm.ngram.counts import OrderCounts, release_freed_memory
from seqlm.ngram.counts import read_block as read
from seqlm.ngram.partition import NpyWriter, count_by_range, gather_by_range
from seqlm.ngram.prune import drop_rows, pruned_rows
from seqlm.ngram.smoothing import NgramTables, _log10, discounts_from_coc, kn_discount_from_coc

BLOCK = 1 << 20


def _context_blocks(keys: np.ndarray, base: int, n: int):
    """[lo, hi) row ranges of about BLOCK rows that never split a context."""
    total, lo = len(keys), 0
    if n == 1:  # one context: every unigram at once (a vocabulary fits in memory)
        yield 0, total
        return
    while lo < total:
        hi = min(lo + BLOCK, total)
        if hi < total:
            last_ctx = int(keys[hi - 1]) // base
            ctx = read(keys, lo, hi) // base
            cut = int(np.searchsorted(ctx, last_ctx))
            if cut > 0:
                hi = lo + cut
            else:  # one context longer than a block: extend to its end
                while hi < total and int(keys[hi]) // base == last_ctx:
                    hi = min(hi + BLOCK, total)
                    ctx_tail = read(keys, lo, hi) // base
                    hi = lo + int(np.searchsorted(ctx_tail, last_ctx, side="right"))
        yield lo, hi
        lo = hi


def _adjusted(counts: list[OrderCounts], n: int, hold: int | None, workdir: Path) -> np.ndarray:
    """Order n < the top's adjusted counts: continuation counts, raw where KenLM keeps them.

    Counted block by block over the order above's suffix links with `np.unique`, and the
    raw counts read back in blocks, so the only array of order n's length is the result;
    past `hold` bytes, that too is made a range at a time and kept on disk."""
    c = counts[n - 1]
    tokens = int(np.asarray(counts[0].raw).sum())  # bounds every count
    dtype = np.int32 if tokens < 2**31 else np.int64
    width = len(c.keys) if hold is None else max(1, hold // np.dtype(dtype).itemsize)

    def raw_after_bos(a: np.ndarray, start: int) -> None:
        for lo in range(start, start + len(a), BLOCK):  # n-grams starting with <s>
            hi = min(lo + BLOCK, start + len(a))
            at = np.flatnonzero(read(c.bos_initial, lo, hi))
            a[lo - start + at] = read(c.raw, lo, hi)[at]

    out = workdir / f"adjusted{n}.npy"
    return count_by_range(counts[n].suffix, len(c.keys), width, dtype, raw_after_bos, out)


def _below(p: Path, suffix: np.ndarray, hold: int | None, workdir: Path, n: int):
    """The order below's interpolated probability of each order-n n-gram's suffix, by row
    block: from the order below held in memory when it fits `hold` bytes, else gathered a
    range at a time into a file in row order (`partition.gather_by_range`)."""
    length = len(np.load(p, mmap_mode="r"))
    if hold is None or 8 * length <= hold:
        lower = np.load(p)  # read into memory, not mapped: the lookups are random
        p.unlink()
        return lambda lo, hi: lower[read(suffix, lo, hi)]
    values = gather_by_range(
        np.load(p, mmap_mode="r"), suffix, max(1, hold // 8), workdir, workdir / f"below{n}.npy"
    )
    p.unlink()
    return lambda lo, hi: read(values, lo, hi)


def _counts_of_counts(counts: list[OrderCounts], n: int, a_all: np.ndarray | None) -> np.ndarray:
    """How many of order n's n-grams have adjusted count 0..4 and 5+; the top order's
    adjusted counts are its raw counts, read in blocks rather than held."""
    values, coc = counts[n - 1].raw if a_all is None else a_all, np.zeros(6, np.int64)
    for lo in range(0, len(values), BLOCK):  # no full-length temporary
        coc += np.bincount(
            np.minimum(read(values, lo, min(lo + BLOCK, len(values))), 5), minlength=6
        )
    return coc


def estimate_streaming(
    counts: list[OrderCounts],
    method: str,
    open_vocabulary: bool,
    flushed: list[int] | None,
    prune: list[int] | None,
    workdir: str | Path,
    hold: int | None = None,
) -> NgramTables:
    """`smoothing.estimate` for "mkn" and "kn", with the tables written under `workdir`;
    `hold`: bytes each of the two arrays an order's pass looks up at random may take
    (None: no limit), beyond which they are made a range at a time on disk."""
    workdir = Path(workdir)
    base, order = len(counts[0].keys), len(counts)
    uniform = 1.0 / (base - 1 + open_vocabulary)
    kept = pruned_rows(counts, prune)
    probs, backoffs, discounts = [], [], []
    lower = None
    backoff_out = None  # the writer of order n-1's backoffs
    for n in range(1, order + 1):
        c = counts[n - 1]
        a_all = _adjusted(counts, n, hold, workdir) if n < order else None  # top: raw
        coc = _counts_of_counts(counts, n, a_all)
        if flushed is not None and flushed[n - 1] >= 0 and a_all is not None:
            f = flushed[n - 1]  # counted with its raw count
            coc[min(int(a_all[f]), 5)] -= 1
            coc[min(int(read(c.raw, f, f + 1)[0]), 5)] += 1
        t = coc[1:5].tolist()
        d = kn_discount_from_coc(t) if method == "kn" else discounts_from_coc(t, n)
        discounts.append(tuple(float(x) for x in d))
        table = np.array([0.0, *d])
        prob_out = NpyWriter(workdir / f"prob{n}.npy", len(c.keys))
        # p, for the order above: written out as made, read back once this order is done
        current = NpyWriter(workdir / f"p{n}.npy", len(c.keys)) if n < order else None
        for lo, hi in _context_blocks(c.keys, base, n):
            keys = read(c.keys, lo, hi)
            a = read(c.raw if a_all is None else a_all, lo, hi).astype(np.float64)
            if n > 1:
                ctx = keys // base
                first_ctx = int(ctx[0])
                local = ctx - first_ctx
            else:
                first_ctx, local = 0, np.zeros(len(keys), np.int64)
            n_ctx = int(local[-1]) + 1
            denom = np.bincount(local, weights=a, minlength=n_ctx)
            discount = table[np.minimum(a, 3).astype(np.int64)]
            safe = np.maximum(denom, 1e-300)
            alpha = (a - discount) / safe[local]
            if kept[n - 1] is not None:
                discount = np.where(kept[n - 1][lo:hi], discount, a)
            gamma = np.bincount(local, weights=discount, minlength=n_ctx) / safe
            below = np.full(len(keys), uniform) if n == 1 else lower(lo, hi)
            p = alpha + gamma[local] * below
            if n == 1:
                p[base - 1] = 1.0
            prob_out.write(_log10(p))
            if current is not None:
                current.write(p)
            if n > 1:  # the backoffs of this block's contexts, in ascending order
                has = np.flatnonzero(denom > 0)
                backoff_out.fill_to(first_ctx, 0.0)
                values = np.zeros(n_ctx)
                values[has] = _log10(gamma[has])
                backoff_out.write(values)
        probs.append(prob_out.close())
        if backoff_out is not None:
            backoffs.append(backoff_out.close())
        if n < order:
            backoff_out = NpyWriter(workdir / f"backoff{n}.npy", len(c.keys))
        del a_all
        lower = None  # freed before the next is read
        for done in (workdir / f"adjusted{n}.npy", workdir / f"below{n}.npy"):
            done.unlink(missing_ok=True)
        release_freed_memory()
        if current is not None:
            lower = _below(current.close_file(), counts[n].suffix, hold, workdir, n + 1)
    backoffs.append(np.broadcast_to(np.float64(0), (len(counts[-1].keys),)))
    tables = NgramTables(base, [c.keys for c in counts], probs, backoffs, discounts)
    return drop_rows(tables, kept) if any(k is not None for k in kept) else tables
