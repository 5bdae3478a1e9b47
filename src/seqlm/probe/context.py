"""How much of the past does a model use? (Khandelwal et al. 2018, "Sharp Nearby, Fuzzy Far Away")

`context_ablation` scores the same target tokens while the model may see only the last
k tokens before each (k = 1, 2, 5, ... and ∞, the whole past). An n-gram's curve is flat
past k = n−1 by construction; a model that uses far context keeps improving with k. The
*effective context* is the smallest k whose loss is within 1% of the full-context loss.
With `shuffle_beyond=d`, the tokens further back than d are shuffled: if the loss does
not change, the model uses only which words occurred far back, not their order.

A recurrent model given k tokens starts from some state. The all-zero state occurs in
training only at the start of each epoch, so from it the model is worse at small k than
its k tokens deserve (an n-gram, which has no state, is not). So each recurrent model
first reads a fixed neutral prefix (whole sentences from the training text, unrelated to
the target), then the k tokens: the difference between models is then their use of
context, not their surprise at a blank state.

`dependency_scores` uses the synthetic corpus's marks: the loss on the tokens that are
fully determined by a token far back (agreement, brackets), by dependency distance,
against the entropy floor on exactly those tokens.
"""

from __future__ import annotations

import math

import numpy as np

from seqlm.data.corpus import Corpus
from seqlm.data.synthetic import DEPENDENCY_KINDS
from seqlm.evaluate import to_model_ids
from seqlm.interface import LanguageModel

DEFAULT_KS = (1, 2, 3, 4, 5, 10, 20, 50, 100, 200)


def neutral_prefix(model: LanguageModel, corpus: Corpus, tokens: int = 60) -> np.ndarray | None:
    """The training text's first whole sentences (at most `tokens` tokens), in the model's ids."""
    train = np.asarray(to_model_ids(model, corpus, "train")[:tokens])
    eos = model.vocab.stoi.get("<eos>")
    ends = np.flatnonzero(train == eos) if eos is not None else []
    return train[: ends[-1] + 1] if len(ends) else None


def grid_for(models: list[LanguageModel], ks: tuple[int, ...] = DEFAULT_KS) -> tuple[int, ...]:
    """`ks` plus n−1 for every n-gram, so its expected effective context is on the grid."""
    extra = {m.order - 1 for m in models if m.kind == "ngram" and getattr(m, "order", 0) > 1}
    return tuple(sorted(set(ks) | extra))


def _truncated_scores(
    model: LanguageModel,
    ids: np.ndarray,
    positions: np.ndarray,
    k: int,
    shuffle_beyond: int | None,
    rng: np.random.Generator,
    prefix: np.ndarray | None = None,
) -> np.ndarray:
    """-ln P(ids[t] | the k tokens before t) for each t in `positions`."""
    windows = []
    for t in positions:
        window = ids[max(0, t - k) : t].copy()
        if shuffle_beyond is not None and len(window) > shuffle_beyond:
            far = window[: len(window) - shuffle_beyond]
            rng.shuffle(far)
            window[: len(far)] = far
        windows.append(window)
    if prefix is None:
        return -model.score_windows(windows, ids[positions])
    return -model.score_windows(windows, ids[positions], prefix=prefix)


def context_ablation(
    model: LanguageModel,
    corpus: Corpus,
    split: str = "test",
    ks: tuple[int, ...] = DEFAULT_KS,
    samples: int = 400,
    shuffle_beyond: int | None = None,
    seed: int = 0,
    neutral_start: bool = True,
    log_probs: np.ndarray | None = None,
) -> dict:
    """`log_probs`: the model's scores of the whole split, if already computed."""
    ids = np.asarray(to_model_ids(model, corpus, split))
    prefix = neutral_prefix(model, corpus) if neutral_start and model.kind != "ngram" else None
    rng = np.random.default_rng(seed)
    first = max(ks) + 1
    if len(ids) <= first:
        raise ValueError(f"the {split} split is shorter than the longest context {max(ks)}")
    positions = np.sort(
        rng.choice(np.arange(first, len(ids)), min(samples, len(ids) - first), replace=False)
    )
    full = -(model.log_probs(ids) if log_probs is None else log_probs)[positions]
    losses = [
        float(np.mean(_truncated_scores(model, ids, positions, k, shuffle_beyond, rng, prefix)))
        for k in ks
    ]
    full_loss = float(np.mean(full))
    effective = next(
        (k for k, loss in zip(ks, losses, strict=True) if loss <= full_loss * 1.01), math.inf
    )
    return {
        "model": model.kind,
        "k": list(ks),
        "loss": losses,
        "full_context_loss": full_loss,
        "effective_context": effective,
        "shuffle_beyond": shuffle_beyond,
        "positions": len(positions),
        "prefix_tokens": 0 if prefix is None else len(prefix),
    }


def dependency_scores(
    model: LanguageModel,
    corpus: Corpus,
    split: str = "test",
    bins: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64),
    log_probs: np.ndarray | None = None,
) -> dict:
    """Loss on long-range-dependent tokens by distance, with the floor on the same tokens.
    `log_probs`: the model's scores of the whole split, if already computed."""
    if split not in corpus.marks:
        raise ValueError("dependency marks exist only for the synthetic corpus")
    marks = corpus.marks[split]
    if log_probs is None:
        log_probs = model.log_probs(to_model_ids(model, corpus, split))
    loss = -log_probs
    floor = -np.asarray(marks["logprob"])
    kinds, distance = np.asarray(marks["dep_kind"]), np.asarray(marks["dep_distance"])
    out = {"model": model.kind, "bins": list(bins), "kinds": {}}
    edges = [*bins, math.inf]
    for kind, name in DEPENDENCY_KINDS.items():
        rows = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            mask = (kinds == kind) & (distance >= lo) & (distance < hi)
            if mask.sum() >= 5:
                rows.append(
                    {
                        "from": lo,
                        "to": hi if hi != math.inf else None,
                        "count": int(mask.sum()),
                        "loss": float(loss[mask].mean()),
                        "floor": float(floor[mask].mean()),
                    }
                )
        out["kinds"][name] = rows
    return out
