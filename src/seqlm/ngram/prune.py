"""Count pruning, as `lmplz --prune t1 t2 ...`: drop order-n n-grams seen at most t_n times.

lmplz marks an n-gram pruned when its raw count (occurrences in the text, for every order)
is at most its order's threshold. Pruning changes neither the adjusted counts nor the
counts-of-counts (the discounts are those of the full model); in each context the
discounted mass of the kept n-grams plus the whole adjusted count of the pruned ones
becomes the backoff weight, so every context still sums to one, and the pruned rows are
left out (`lm/builder/initial_probabilities.cc`, AddRight). Thresholds must not decrease
with the order and the unigrams' must be 0: an n-gram's prefix and suffix occur at least
as often as it does, so every kept n-gram keeps its context and the ARPA stays valid.
"""

from __future__ import annotations

import numpy as np

from seqlm.io import SeqlmError


def thresholds(prune: list[int] | None, order: int) -> list[int] | None:
    """lmplz's rules: one value per order, the last repeated; non-decreasing; unigrams 0."""
    if not prune:
        return None
    prune = [int(t) for t in prune]
    if len(prune) > order:
        raise SeqlmError(f"{len(prune)} pruning thresholds for an order-{order} model")
    if any(t < 0 for t in prune) or prune[0] != 0:
        raise SeqlmError("pruning thresholds must be >= 0, and 0 for unigrams (e.g. 0 1 1)")
    if any(b < a for a, b in zip(prune, prune[1:], strict=False)):
        raise SeqlmError("pruning thresholds must not decrease with the order (e.g. 0 0 1)")
    return prune + [prune[-1]] * (order - len(prune))


def pruned_rows(counts, prune: list[int] | None) -> list[np.ndarray | None]:
    """Per order, a boolean 'kept' array (None: nothing pruned at that order)."""
    limits = thresholds(prune, len(counts)) or [0] * len(counts)
    return [None if t == 0 else np.asarray(c.raw) > t for c, t in zip(counts, limits, strict=True)]


def drop_rows(tables, kept: list[np.ndarray | None]):
    """Remove the pruned rows and renumber the prefixes packed in the next order's keys."""
    base = tables.base
    keys, probs, backs = [tables.keys[0]], [tables.log10_prob[0]], [tables.log10_backoff[0]]
    renumber = None  # new index of each old n-gram of the order below
    for n in range(2, tables.order + 1):
        k = np.asarray(tables.keys[n - 1])
        if renumber is not None:
            k = renumber[k // base] * base + k % base
        p, b = tables.log10_prob[n - 1], tables.log10_backoff[n - 1]
        keep = kept[n - 1]
        if keep is not None:
            k, p, b = k[keep], p[keep], b[keep]
            renumber = np.cumsum(keep) - 1
        else:
            renumber = None
        keys.append(k), probs.append(p), backs.append(b)
    return type(tables)(base, keys, probs, backs, tables.discounts)  # NgramTables
