"""From counts to probabilities: interpolated modified Kneser–Ney and simpler baselines.

Every method produces the same backoff tables (per order: sorted n-gram keys, log10
probability, log10 backoff), exactly what an ARPA file holds, so scoring, ARPA output
and generation never depend on how a model was smoothed.

Modified Kneser–Ney follows KenLM's `lmplz` (Chen & Goodman 1998; Heafield et al. 2013):
- lower orders count *continuations*: an n-gram's adjusted count is the number of
  distinct words seen before it; n-grams that start with `<s>` keep their raw count
  (nothing can precede `<s>`), as do n-grams of the highest order;
- three discounts per order from the counts-of-counts t_1..t_4 of adjusted counts:
  Y = t1 / (t1 + 2 t2), D_k = k - (k + 1) Y t_{k+1} / t_k;
- p(w | h) = (a(hw) - D(a(hw))) / Σ_w a(hw) + γ(h) p(w | h'), with
  γ(h) = Σ_w D(a(hw)) / Σ_w a(hw); the unigrams interpolate with the uniform
  distribution over the vocabulary (every word and `</s>`, not `<s>`);
- `<s>` has probability 1 as a unigram (it is never predicted); γ(h) is h's backoff.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from seqlm.io import SeqlmError
from seqlm.ngram.counts import OrderCounts
from seqlm.ngram.prune import drop_rows, pruned_rows

SMOOTHINGS = ("mkn", "kn", "wb", "add-k", "ml")
DEFAULT_SMOOTHING = SMOOTHINGS[0]  # interpolated modified Kneser-Ney, as KenLM
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback


@dataclass
class NgramTables:
    base: int  # number of ids including <s> (= base - 1)
    keys: list[np.ndarray]  # per order: sorted packed n-grams (prefix index * base + word)
    log10_prob: list[np.ndarray]
    log10_backoff: list[np.ndarray]  # 0 where the n-gram is not a context (highest order: 0)
    discounts: list[tuple[float, ...]] = field(default_factory=list)  # per order (KN only)
    fences: list[np.ndarray] = field(default_factory=list)  # per order, when loaded: fence_of
    suffix_closed: bool | None = None  # see fast_words.suffix_closed (None: not yet known)
    probing: list[np.ndarray] = field(default_factory=list)  # per order >= 2, when loaded:
    # `fast.Packed`'s hash table, mapped from the model directory instead of built

    @property
    def order(self) -> int:
        return len(self.keys)

    @property
    def bos(self) -> int:
        return self.base - 1


def _log10(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(x)


def _contexts(keys: np.ndarray, n: int, base: int) -> np.ndarray:
    return keys // base if n > 1 else np.zeros(len(keys), np.int64)


def discounts_from_counts(adjusted: np.ndarray, order: int) -> tuple[float, float, float]:
    """Chen & Goodman's estimate; lmplz's fallback when counts-of-counts are degenerate."""
    t = [int(np.count_nonzero(adjusted == k)) for k in range(1, 5)]
    return discounts_from_coc(t, order)


def discounts_from_coc(t: list[int], order: int) -> tuple[float, float, float]:
    """The same from the counts-of-counts t_1..t_4."""
    if min(t[:3]) > 0:
        y = t[0] / (t[0] + 2 * t[1])
        d = tuple(k - (k + 1) * y * t[k] / t[k - 1] for k in (1, 2, 3))
        if all(0 <= dk <= k for k, dk in zip((1, 2, 3), d, strict=True)):
            return d  # type: ignore[return-value]
    if any(t):  # all zero: every such n-gram is frequent (a small closed vocabulary, as in
        # the built-in corpus's unigrams), the discounts hardly matter: nothing to report
        warnings.warn(
            f"{order}-grams seen once/twice/three/four times: {t}; too few to estimate "
            f"Kneser-Ney discounts (tiny or artificial data), so lmplz's fallback "
            f"{FALLBACK_DISCOUNTS} is used",
            stacklevel=2,
        )
    return FALLBACK_DISCOUNTS


def estimate(
    counts: list[OrderCounts],
    method: str = DEFAULT_SMOOTHING,
    k: float = 1.0,
    open_vocabulary: bool = False,
    flushed: list[int] | None = None,
    prune: list[int] | None = None,
) -> NgramTables:
    """`open_vocabulary`: reserve one extra uniform share for words never seen in training
    (KenLM always does, for its `<unk>`); needed when the vocabulary's own `<unk>` is an
    observed word, as PTB's is. The probabilities over the vocabulary then sum to
    1 - P(unseen word), a few millionths short of 1. `flushed[n-1]`: an order-n n-gram that
    enters the counts-of-counts with its raw count instead of its adjusted count, as lmplz
    does (see `counts.kenlm_flushed`). `prune[n-1]`: drop order-n n-grams seen at most that
    often, as `lmplz --prune` (see `prune.py`; Kneser–Ney only)."""
    if method not in SMOOTHINGS:
        raise SeqlmError(f"unknown smoothing {method!r} (choose from {', '.join(SMOOTHINGS)})")
    kept = pruned_rows(counts, prune)
    if any(k is not None for k in kept) and method not in ("mkn", "kn"):
        raise SeqlmError("pruning is for Kneser-Ney smoothing (mkn, kn), as in lmplz")
    if method in ("add-k", "ml"):
        return _additive(counts, 0.0 if method == "ml" else k)
    base, order = len(counts[0].keys), len(counts)
    uniform = 1.0 / (base - 1 + open_vocabulary)  # every word and </s>, not <s>
    if method == "wb":
        adjusted = [c.raw.astype(np.float64) for c in counts]
    else:
        adjusted = []
        for n in range(1, order + 1):
            c = counts[n - 1]
            if n == order:
                a = c.raw
            else:  # continuation counts: distinct left extensions among (n+1)-gram types
                a = np.bincount(counts[n].suffix, minlength=len(c.keys))
                a = np.where(c.bos_initial, c.raw, a)
            adjusted.append(a.astype(np.float64))
    probs, gammas, discounts = [], [], []
    lower = None
    for n in range(1, order + 1):
        keys, a = counts[n - 1].keys, adjusted[n - 1]
        ctx = _contexts(keys, n, base)
        n_ctx = len(counts[n - 2].keys) if n > 1 else 1
        denom = np.bincount(ctx, weights=a, minlength=n_ctx)
        if method == "wb":
            types = np.bincount(ctx, weights=(a > 0).astype(np.float64), minlength=n_ctx)
            total = np.maximum(denom + types, 1e-300)
            alpha, gamma = a / total[ctx], types / total
        else:
            stated = a.copy()
            if flushed is not None and flushed[n - 1] >= 0:
                stated[flushed[n - 1]] = counts[n - 1].raw[flushed[n - 1]]
            stated = stated[stated > 0].astype(np.int64)
            d = _kn_discount(stated) if method == "kn" else discounts_from_counts(stated, n)
            discounts.append(tuple(float(x) for x in d))
            table = np.array([0.0, *d])
            discount = table[np.minimum(a, 3).astype(np.int64)]
            safe = np.maximum(denom, 1e-300)
            alpha = (a - discount) / safe[ctx]
            if kept[n - 1] is not None:  # a pruned n-gram's whole mass goes to the backoff
                discount = np.where(kept[n - 1], discount, a)
            gamma = np.bincount(ctx, weights=discount, minlength=n_ctx) / safe
        below = np.full(len(keys), uniform) if n == 1 else lower[counts[n - 1].suffix]
        p = alpha + gamma[ctx] * below
        if n == 1:
            p[base - 1] = 1.0  # <s>: never predicted; probability 1 as in KenLM
        probs.append(p)
        gammas.append(np.where(denom > 0, gamma, 1.0))
        lower = p
    backoffs = [gammas[n] for n in range(1, order)] + [np.ones(len(counts[-1].keys))]
    tables = NgramTables(
        base,
        [c.keys for c in counts],
        [_log10(p) for p in probs],
        [_log10(b) for b in backoffs],
        discounts,
    )
    return drop_rows(tables, kept) if any(k is not None for k in kept) else tables


def _kn_discount(a: np.ndarray) -> tuple[float, float, float]:
    """Interpolated Kneser–Ney with one discount per order, D = t1 / (t1 + 2 t2)."""
    return kn_discount_from_coc([int(np.count_nonzero(a == k)) for k in (1, 2)])


def kn_discount_from_coc(t: list[int]) -> tuple[float, float, float]:
    t1, t2 = t[0], t[1]
    d = t1 / (t1 + 2 * t2) if t1 > 0 else FALLBACK_DISCOUNTS[0]
    return (d, d, d)


def _additive(counts: list[OrderCounts], k: float) -> NgramTables:
    """Add-k (k = 0: maximum likelihood) on the longest history a token has.

    Only events with a complete history are estimated: n-grams of the highest order and
    shorter ones that start with `<s>`. Everything else is uniform, and a history's
    backoff k V / (c(h) + k V) turns the uniform probability into k / (c(h) + k V) for
    unseen words, so p(w | h) = (c(hw) + k) / (c(h) + k V) exactly, in ARPA form.
    Maximum likelihood gives unseen events probability 0 (log -inf, perplexity inf).
    """
    base, order = len(counts[0].keys), len(counts)
    vocab_size = base - 1
    probs, context_backoff = [], []
    for n in range(1, order + 1):
        c = counts[n - 1]
        full = np.ones(len(c.keys), bool) if n == order else c.bos_initial.copy()
        if n == 1:
            full[base - 1] = False
        ctx = _contexts(c.keys, n, base)
        n_ctx = len(counts[n - 2].keys) if n > 1 else 1
        c_ctx = np.bincount(ctx[full], weights=c.raw[full].astype(np.float64), minlength=n_ctx)
        has = np.bincount(ctx[full], minlength=n_ctx) > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(full, (c.raw + k) / (c_ctx[ctx] + k * vocab_size), 1.0 / vocab_size)
            bo = np.where(has, k * vocab_size / (c_ctx + k * vocab_size), 1.0)
        if n == 1:
            p[base - 1] = 1.0
        probs.append(np.nan_to_num(p, nan=0.0))
        context_backoff.append(bo)
    backoffs = [context_backoff[n] for n in range(1, order)] + [np.ones(len(counts[-1].keys))]
    return NgramTables(
        base, [c.keys for c in counts], [_log10(p) for p in probs], [_log10(b) for b in backoffs]
    )
