"""Each evaluation-time method alone and combined, tuned on validation, reported on test.

`run_methods` scores the validation split and the report split once per method; the
hyperparameters (cache θ and λ, the dynamic-evaluation lr, the interpolation weight) are
picked on validation only, then applied unchanged to the report split. Each result says
which method produced it, with which settings, and how many seconds it added.
Combinations stack in the order dynamic evaluation → cache → n-gram: the cache points at
the hidden states the adapting model produced, and the n-gram is mixed in last.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from seqlm.evaluate import to_model_ids
from seqlm.evaluate.cache import cache_log_probs, mix, score_with_features
from seqlm.evaluate.dynamic import METHODS, dynamic_log_probs
from seqlm.evaluate.interpolate import best_weight
from seqlm.io import SeqlmError

log = logging.getLogger(__name__)

THETAS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
LAMBDAS = (0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3)
DYNAMIC_LRS = {"sgd": (0.03, 0.1, 0.3, 1.0), "rms": (1e-4, 3e-4, 1e-3, 3e-3)}


@dataclass
class MethodResult:
    method: str  # static, cache, dynamic, ngram, and combinations joined by '+'
    params: dict = field(default_factory=dict)
    tuned_on: str = "valid"
    valid_ppl: float = math.nan
    report_ppl: float = math.nan
    report_split: str = "test"
    extra_seconds: float = 0.0  # evaluation time beyond the static model's (both splits)

    def to_json(self) -> dict:
        return asdict(self)


def ppl(log_probs: np.ndarray) -> float:
    return round(math.exp(-float(np.mean(log_probs))), 3)


def tune_cache(lp: np.ndarray, hiddens, ids: np.ndarray, window: int) -> tuple[dict, float]:
    """(θ, λ) minimising validation loss on a grid; returns them and that loss."""
    per_theta = cache_log_probs(hiddens, ids, window, list(THETAS))
    loss, theta, lam = min(
        (float(-mix(lp, per_theta[i], lam).mean()), theta, lam)
        for (i, theta), lam in itertools.product(enumerate(THETAS), LAMBDAS)
    )
    return {"window": window, "theta": theta, "lambda": lam}, loss


def with_cache(scored: dict, ids: dict, window: int) -> tuple[dict, dict, float]:
    """Tune (θ, λ) on validation, apply to every split: (params, log-probs, seconds)."""
    t0 = time.perf_counter()
    params, _ = tune_cache(*scored["valid"], ids["valid"], window)
    out = {
        s: mix(lp, cache_log_probs(h, ids[s], window, [params["theta"]])[0], params["lambda"])
        for s, (lp, h) in scored.items()
    }
    return params, out, round(time.perf_counter() - t0, 2)


def run_methods(
    model,
    corpus,
    split: str = "test",
    cache: int = 0,
    dynamic: str | None = None,
    ngram=None,
    tune_tokens: int = 20_000,
    segment: int = 20,
    decay: float = 0.002,
    limit: int = 0,
) -> list[MethodResult]:
    """Static scores, then each requested method alone, then all of them combined.
    `limit`: score only the first `limit` tokens of each split (quick benchmarks)."""
    if dynamic is not None and dynamic not in METHODS:
        raise SeqlmError(f"unknown --dynamic {dynamic!r} (sgd, rms)")
    ids = {s: to_model_ids(model, corpus, s)[: limit or None] for s in ("valid", split)}
    start = time.perf_counter()
    static = {s: score_with_features(model, ids[s]) for s in ids}
    static_s = time.perf_counter() - start
    results = [
        MethodResult("static", {}, "-", ppl(static["valid"][0]), ppl(static[split][0]), split)
    ]
    # per split, the model scores and top-layer features the next stage builds on
    stages: dict[str, dict] = {s: {"lp": static[s][0], "h": static[s][1]} for s in ids}
    combined: list[str] = []
    extra = 0.0

    if dynamic:
        t0 = time.perf_counter()
        probe = ids["valid"][:tune_tokens] if tune_tokens else ids["valid"]
        losses = {
            lr: -dynamic_log_probs(model, probe, dynamic, lr, decay, segment).mean()
            for lr in DYNAMIC_LRS[dynamic]
        }
        lr = min(losses, key=losses.get)
        log.info(
            "dynamic evaluation (%s): lr %g chosen on %d validation tokens (%s)",
            dynamic,
            lr,
            len(probe),
            ", ".join(f"{k:g}: {math.exp(v):.2f}" for k, v in losses.items()),
        )
        for s in ids:
            lp, h = dynamic_log_probs(model, ids[s], dynamic, lr, decay, segment, True)
            stages[s] = {"lp": lp, "h": h}
        extra += time.perf_counter() - t0
        params = {
            "method": dynamic,
            "lr": lr,
            "decay": decay,
            "segment": segment,
            "lr_tuned_on_tokens": len(probe),
        }
        results.append(
            MethodResult(
                "dynamic",
                params,
                "valid",
                ppl(stages["valid"]["lp"]),
                ppl(stages[split]["lp"]),
                split,
                round(extra, 2),
            )
        )
        combined.append("dynamic")

    if cache:
        params, out, seconds = with_cache(
            {s: (static[s][0], static[s][1]) for s in ids}, ids, cache
        )
        results.append(
            MethodResult(
                "cache", params, "valid", ppl(out["valid"]), ppl(out[split]), split, seconds
            )
        )
        if dynamic:  # the cache again, on the adapting model's scores and features
            params, out, seconds = with_cache(
                {s: (stages[s]["lp"], stages[s]["h"]) for s in ids}, ids, cache
            )
        extra += seconds
        combined.append("cache")
        for s in ids:
            stages[s]["lp"] = out[s]
        if dynamic:
            results.append(
                MethodResult(
                    "dynamic+cache",
                    params,
                    "valid",
                    ppl(out["valid"]),
                    ppl(out[split]),
                    split,
                    round(extra, 2),
                )
            )

    if ngram is not None:
        t0 = time.perf_counter()
        ng = {s: ngram.log_probs(ids[s]) for s in ids}
        ng_s = time.perf_counter() - t0
        weight, _ = best_weight(static["valid"][0], ng["valid"])
        alone = {s: mix(static[s][0], ng[s], weight) for s in ids}
        results.append(
            MethodResult(
                "ngram",
                {"order": ngram.order, "weight": weight},
                "valid",
                ppl(alone["valid"]),
                ppl(alone[split]),
                split,
                round(ng_s, 2),
            )
        )
        if combined:
            weight, _ = best_weight(stages["valid"]["lp"], ng["valid"])
            out = {s: mix(stages[s]["lp"], ng[s], weight) for s in ids}
            combined.append("ngram")
            results.append(
                MethodResult(
                    "+".join(combined),
                    {"ngram_weight": weight},
                    "valid",
                    ppl(out["valid"]),
                    ppl(out[split]),
                    split,
                    round(extra + ng_s, 2),
                )
            )
    results[0].extra_seconds = round(static_s, 2)  # the static row: its own time
    return results
