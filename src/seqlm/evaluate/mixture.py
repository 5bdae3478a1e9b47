"""The best of both models: a recurrent model and an n-gram, mixed and saved as one model.

On small corpora an n-gram and a recurrent model make different errors, so their linear
mixture (`InterpolatedLM`) often beats both. `build_mixture` tunes the weight λ on the
validation split only; `save_mixture` writes a self-contained model directory,

    DIR/config.json   {"kind": "mixture", "parts": ["neural", "ngram"], "weight": λ, ...}
    DIR/neural/       the recurrent model (its own model directory)
    DIR/ngram/        the n-gram (its own model directory)

which `seqlm.load`, `seqlm eval`, `generate` and `serve` accept like any model, and which
can be moved or copied as a whole. `best_of_both` does all of it and scores the three
models on valid and test with the same convention as `seqlm eval`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from seqlm.data.corpus import Corpus
from seqlm.evaluate import evaluate, to_model_ids
from seqlm.evaluate.cache import mix
from seqlm.evaluate.interpolate import InterpolatedLM, best_weight
from seqlm.interface import LanguageModel
from seqlm.manifest import write_manifest
from seqlm.modeldir import new_model_dir, write_config

PART_NAMES = ("neural", "ngram")
_CONFIG_SKIP = {"kind", "format_version", "seqlm_version", "model", "level"}


def _scores(model: LanguageModel, corpus: Corpus, split: str) -> np.ndarray:
    return np.asarray(model.log_probs(to_model_ids(model, corpus, split)), dtype=np.float64)


def build_mixture(
    neural: LanguageModel, ngram: LanguageModel, corpus: Corpus, scores: dict | None = None
) -> InterpolatedLM:
    """(1 − λ) neural + λ n-gram, λ tuned on the validation split only. `scores`: the two
    parts' validation log-probabilities, {"neural": ..., "ngram": ...}, if already computed."""
    scores = scores or {}
    a = scores.get("neural")
    b = scores.get("ngram")
    a = _scores(neural, corpus, "valid") if a is None else a
    b = _scores(ngram, corpus, "valid") if b is None else b
    weight, nats = best_weight(a, b)
    mixture = InterpolatedLM(neural, ngram, weight)
    mixture.kind = "mixture"
    mixture.info = {"weight": weight, "tuned_on": "valid", "valid_nats": round(nats, 6)}
    return mixture


def _save_part(model: LanguageModel, directory: Path) -> None:
    if model.kind == "ngram":
        model.save(directory)
        return
    from seqlm.nn.checkpoint import save_recurrent

    info = getattr(model, "info", None) or {}
    save_recurrent(model, directory, {k: v for k, v in info.items() if k not in _CONFIG_SKIP})


def save_mixture(
    mixture: InterpolatedLM,
    directory: str | os.PathLike,
    extra: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `mixture` as a self-contained model directory (parts copied inside it, each
    with its own manifest), staged beside `directory` and renamed into place, so a reader
    never sees half of it; an existing model there is replaced only with `overwrite`."""
    with new_model_dir(directory, overwrite) as stage:
        for name, part in zip(PART_NAMES, (mixture.first, mixture.second), strict=True):
            _save_part(part, stage / name)
        info = getattr(mixture.first, "info", None) or {}
        sections = {
            "parts": list(PART_NAMES),
            "weight": mixture.weight,
            "weight_on": PART_NAMES[1],
            "tuned_on": "valid",
            "level": mixture.vocab.level,
            **({"corpus": info["corpus"]} if "corpus" in info else {}),
            **_valid_perplexity(mixture),
            **(extra or {}),
        }
        write_config(stage, "mixture", sections)
        write_manifest(stage)
    return Path(directory)


def _valid_perplexity(mixture: InterpolatedLM) -> dict:
    nats = (getattr(mixture, "info", None) or {}).get("valid_nats")
    return {"valid_perplexity": round(math.exp(nats), 4)} if nats is not None else {}


def best_of_both(
    neural: LanguageModel, ngram: LanguageModel, corpus: Corpus, out: str | os.PathLike | None
) -> dict:
    """The recurrent model, the n-gram and their mixture (λ tuned on valid) scored on valid
    and test; the mixture saved to `out` (replacing a mixture there). Which is best on test."""
    valid = {"neural": _scores(neural, corpus, "valid"), "ngram": _scores(ngram, corpus, "valid")}
    test = {"neural": _scores(neural, corpus, "test"), "ngram": _scores(ngram, corpus, "test")}
    mixture = build_mixture(neural, ngram, corpus, valid)
    weight = mixture.weight
    rows = {}
    for name, model in (("neural", neural), ("ngram", ngram)):
        rows[name] = {
            "model": model.kind if model.kind != "ngram" else f"{model.order}-gram",
            "valid": evaluate(model, corpus, "valid", valid[name]).to_json(),
            "test": evaluate(model, corpus, "test", test[name]).to_json(),
        }
    mixed = {s: mix(v["neural"], v["ngram"], weight) for s, v in (("valid", valid), ("test", test))}
    rows["mixture"] = {
        "model": "mixture",
        "valid": evaluate(mixture, corpus, "valid", mixed["valid"]).to_json(),
        "test": evaluate(mixture, corpus, "test", mixed["test"]).to_json(),
    }
    finite = {k: r["test"]["nats_per_token"] for k, r in rows.items()}
    best = min(finite, key=lambda k: np.inf if finite[k] is None else finite[k])
    result = {"weight": weight, "weight_on": "ngram", "tuned_on": "valid", "best": best, **rows}
    if out is not None:
        extra = {
            "valid_perplexity": rows["mixture"]["valid"]["perplexity"],
            "test_perplexity": rows["mixture"]["test"]["perplexity"],
        }
        result["path"] = str(save_mixture(mixture, out, extra, overwrite=True))
    return result


def describe(result: dict) -> list[str]:
    """The lines `seqlm train` and `compare` print for `best_of_both`'s result."""
    names = {k: result[k]["model"] for k in ("neural", "ngram", "mixture")}
    lines = [
        f"the best of both: {names['neural']}, {names['ngram']} and their mixture "
        f"(weight {result['weight']:g} on the {names['ngram']}, tuned on valid only)"
    ]
    for key in ("neural", "ngram", "mixture"):
        ppl = result[key]["test"]["perplexity"]
        mark = "  <- best" if key == result["best"] else ""
        text = "inf" if ppl is None else f"{ppl:.2f}"
        lines.append(f"  {names[key]:<10} test perplexity {text}{mark}")
    if "path" in result:
        lines.append(f"  mixture saved to {result['path']} (seqlm eval/generate/serve accept it)")
    return lines


def verdict(result: dict) -> str:
    """One sentence: how the mixture stands against its two parts on test."""
    names = {k: result[k]["model"] for k in ("neural", "ngram")}
    nats = {k: result[k]["test"]["nats_per_token"] for k in ("neural", "ngram", "mixture")}
    ppl = result["mixture"]["test"]["perplexity"]
    parts = [v for k, v in nats.items() if k != "mixture" and v is not None]
    if nats["mixture"] is not None and parts and nats["mixture"] < min(parts):
        standing = "better than both"
    else:
        standing = (
            f"not better than {names[result['best']] if result['best'] != 'mixture' else 'both'}"
        )
    return (
        f"Mixing {names['neural']} with {names['ngram']} (weight {result['weight']:g} on the "
        f"n-gram, tuned on valid) gives test perplexity "
        f"{'inf' if ppl is None else f'{ppl:.2f}'}, {standing}"
        + (f"; saved as {result['path']}." if "path" in result else ".")
    )
