"""Is one model really better than another on this test set? A paired block bootstrap.

Two models scored on the same test stream give two per-token losses; their difference is
what matters, and it is correlated along the text (a hard sentence is hard for both, and
a token's loss depends on its neighbours). So the test stream is cut into fixed-length
blocks, blocks are drawn with replacement (the same blocks for both models: paired), and
the difference in mean loss is recomputed for each draw; the middle 95% of those
differences is the interval. When a model was trained with several seeds, each draw also
picks the seeds with replacement, so the interval covers seed-to-seed variation as well
as the choice of test text. An interval that covers 0 means the data cannot tell the two
models apart: "tied".
"""

from __future__ import annotations

import numpy as np

BLOCK = 100  # tokens per block: longer than the synthetic corpus's dependencies
RESAMPLES = 1000


def _block_sums(losses: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, blocks) sums of the per-token losses, and each block's length."""
    losses = np.atleast_2d(np.asarray(losses, dtype=np.float64))
    n = losses.shape[1]
    starts = np.arange(0, n, block)
    return np.add.reduceat(losses, starts, axis=1), np.diff(np.append(starts, n))


def paired_bootstrap(
    losses_a: np.ndarray,
    losses_b: np.ndarray,
    block: int = BLOCK,
    resamples: int = RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """Mean loss of A minus mean loss of B (nats/token) with a `level` bootstrap interval.
    `losses_*`: per-token losses on the same tokens, shape (tokens,) or (seeds, tokens)."""
    sums_a, lengths = _block_sums(losses_a, block)
    sums_b, lengths_b = _block_sums(losses_b, block)
    if sums_a.shape[1] != sums_b.shape[1] or not np.array_equal(lengths, lengths_b):
        raise ValueError("paired bootstrap needs losses on the same tokens")
    if not (np.isfinite(sums_a).all() and np.isfinite(sums_b).all()):
        return {"difference": None, "low": None, "high": None, "tied": False}
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, len(lengths), size=(resamples, len(lengths)))
    seeds_a = rng.integers(0, len(sums_a), size=(resamples, len(sums_a)))
    seeds_b = rng.integers(0, len(sums_b), size=(resamples, len(sums_b)))
    # each draw: the chosen seeds' mean block sums, then the chosen blocks
    per_block = sums_a[seeds_a].mean(axis=1) - sums_b[seeds_b].mean(axis=1)  # (draws, blocks)
    draws = np.take_along_axis(per_block, blocks, axis=1).sum(1) / lengths[blocks].sum(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    difference = float((sums_a.mean(0) - sums_b.mean(0)).sum() / lengths.sum())
    return {
        "difference": difference,
        "low": float(low),
        "high": float(high),
        "tied": bool(low <= 0 <= high),
    }


def rank_adjacent(names: list[str], losses: dict, **options) -> list[dict]:
    """For each pair of neighbours in `names` (best first): how much worse the second is."""
    pairs = []
    for better, worse in zip(names, names[1:], strict=False):
        test = paired_bootstrap(losses[worse], losses[better], **options)
        pairs.append({"better": better, "worse": worse, **test})
    return pairs
