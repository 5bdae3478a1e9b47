"""Every model on one corpus, one vocabulary, one yardstick.

`compare` trains (or reuses) each model of a list such as ``ngram:3,ngram:5,rnn,lstm,gru``
on the same corpus, evaluates each with `seqlm.evaluate.evaluate` (the function behind
`seqlm eval`, so the table equals what `seqlm eval` prints for each saved model) and
ranks them. Each model lives in a directory keyed by the corpus and its settings, so an
interrupted comparison re-run reuses the models that finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from seqlm.data.corpus import Corpus, cache_root
from seqlm.errors import SeqlmError
from seqlm.evaluate import evaluate, to_model_ids
from seqlm.ngram.smoothing import SMOOTHINGS

NEURAL = ("rnn", "lstm", "gru")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "ngram" or a neural kind
    order: int = 0
    smoothing: str = "mkn"

    @property
    def name(self) -> str:
        if self.kind != "ngram":
            return self.kind
        suffix = "" if self.smoothing == "mkn" else f" {self.smoothing}"
        return f"{self.order}-gram{suffix}"


def parse_models(text: str) -> list[ModelSpec]:
    specs = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.lower().split(":")
        if parts[0] in NEURAL and len(parts) == 1:
            specs.append(ModelSpec(parts[0]))
        elif parts[0] == "ngram" and len(parts) in (2, 3) and parts[1].isdigit():
            smoothing = parts[2] if len(parts) == 3 else "mkn"
            if smoothing not in SMOOTHINGS or not 1 <= int(parts[1]) <= 10:
                raise SeqlmError(f"bad model spec {item!r} (order 1-10, smoothing one of "
                                 f"{', '.join(SMOOTHINGS)})")  # fmt: skip
            specs.append(ModelSpec("ngram", int(parts[1]), smoothing))
        else:
            raise SeqlmError(
                f"unknown model spec {item!r} (use ngram:N[:smoothing], rnn, lstm, gru)"
            )
    if not specs:
        raise SeqlmError("no models to compare")
    return specs


def parse_budget(text: str) -> float:
    """'90s', '10m', '1.5h' or plain minutes -> minutes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise SeqlmError(f"cannot parse budget {text!r} (e.g. 90s, 10m, 1h)")
    value, unit = float(match.group(1)), match.group(2) or "m"
    return value * {"s": 1 / 60, "m": 1, "h": 60}[unit]


def model_dir(root: Path, corpus_key: dict, spec: ModelSpec, settings: dict) -> Path:
    blob = json.dumps({"corpus": corpus_key, "spec": spec.__dict__, "settings": settings},
                      sort_keys=True)  # fmt: skip
    return root / f"{spec.name.replace(' ', '-')}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def train_or_load(spec: ModelSpec, corpus: Corpus, directory: Path, budget_minutes: float,
                  neural_overrides: dict, progress: bool) -> dict:  # fmt: skip
    """Train into `directory` unless a finished model is already there; return its facts."""
    done = directory / "compare.json"
    if done.exists():
        return json.loads(done.read_text())
    if spec.kind == "ngram":
        from seqlm.ngram import NgramLM

        start = time.perf_counter()
        model = NgramLM.train(corpus["train"], corpus.vocab, spec.order, spec.smoothing)
        seconds = time.perf_counter() - start
        model.save(directory, {"corpus": corpus.spec.to_json(), "train_seconds": round(seconds, 3)})
        facts = {"train_seconds": seconds, "tokens_per_s": len(corpus["train"]) / seconds,
                 "history": []}  # fmt: skip
    else:
        from seqlm.train import Trainer, make_config

        # about eight points on each learning curve, whatever the budget
        overrides = {"eval_minutes": budget_minutes / 8, **neural_overrides, "cell": spec.kind,
                     "max_minutes": budget_minutes}  # fmt: skip
        config = make_config(corpus.spec.source, None, overrides)
        resume = (directory / "trainer.safetensors").exists()
        trainer = Trainer(config, corpus, directory, resume=resume, progress=progress)
        summary = trainer.run()
        if summary["stop"] == "interrupted":
            raise KeyboardInterrupt
        facts = {"train_seconds": summary["train_seconds"], "tokens_per_s": summary["tokens_per_s"],
                 "history": trainer.progress["history"]}  # fmt: skip
    done.write_text(json.dumps(facts))
    return facts


def compare(
    corpus: Corpus,
    specs: list[ModelSpec],
    root: Path | None,
    budget_minutes: float,
    neural_overrides: dict | None = None,
    progress: bool = False,
) -> tuple[dict, dict, dict]:
    """(result for the table and report, the loaded models, test per-token losses).
    `root`: where models are kept and reused (default: beside the corpus cache)."""
    from seqlm.loading import load

    root = Path(root) if root else cache_root().parent / "models"
    neural_overrides = neural_overrides or {}
    corpus_key = corpus.spec.to_json()
    rows, losses, models = [], {}, {}
    for spec in specs:
        settings = {"budget": budget_minutes, **neural_overrides} if spec.kind != "ngram" else {}
        directory = model_dir(root, corpus_key, spec, settings)
        reused = (directory / "compare.json").exists()
        log.info("%s: %s %s", spec.name, "reusing" if reused else "training", directory)
        facts = train_or_load(spec, corpus, directory, budget_minutes, neural_overrides, progress)
        model = load(directory)
        row = {"model": spec.name, "kind": spec.kind, "path": str(directory),
               "parameters": model.num_parameters(), **facts}  # fmt: skip
        row["valid"] = evaluate(model, corpus, "valid").to_json()
        test_log_probs = model.log_probs(to_model_ids(model, corpus, "test"))
        row["test"] = evaluate(model, corpus, "test", test_log_probs).to_json()
        losses[spec.name] = -test_log_probs
        models[spec.name] = model
        rows.append(row)
    rows.sort(key=lambda r: r["test"]["nats_per_token"] if r["test"]["nats_per_token"] is not None
              else math.inf)  # fmt: skip
    floor = corpus.entropy_floor("test")
    result = {"corpus": corpus.name, "level": corpus.level, "budget_minutes": budget_minutes,
              "floor_test_nats": floor, "rows": rows}  # fmt: skip
    return result, models, losses


def format_table(result: dict) -> str:
    char = result["level"] == "char"
    floor = result["floor_test_nats"]
    head = f"{'#':>2} {'model':<12}{'params':>12}{'train':>9}{'tokens/s':>11}"
    head += f"{'valid bpc':>11}{'test bpc':>10}" if char else f"{'valid ppl':>11}{'test ppl':>10}"
    if floor is not None:
        head += f"{'gap to floor':>14}"
    lines = [head]

    def metric(r: dict, split: str) -> str:
        s = r[split]
        if s["perplexity"] is None:
            return "inf"
        return f"{s['bits_per_char']:.4f}" if char else f"{s['perplexity']:.2f}"

    for i, r in enumerate(result["rows"], 1):
        line = (f"{i:>2} {r['model']:<12}{r['parameters']:>12,}{r['train_seconds']:>8.1f}s"
                f"{r['tokens_per_s']:>11,.0f}{metric(r, 'valid'):>11}{metric(r, 'test'):>10}")  # fmt: skip
        if floor is not None:
            gap = r["test"].get("gap_nats")
            line += f"{gap:>10.4f} nats" if gap is not None else f"{'inf':>14}"
        lines.append(line)
    if floor is not None:
        lines.append(
            f"   entropy floor (test): {floor:.4f} nats/token = perplexity {math.exp(floor):.3f}"
        )
    return "\n".join(lines)


def summary_sentences(result: dict) -> str:
    """Two sentences on what the numbers show, written from the numbers."""
    rows = result["rows"]
    best, worst = rows[0], rows[-1]
    unit = "bits/char" if result["level"] == "char" else "perplexity"

    def value(r: dict) -> str:
        t = r["test"]
        if t["perplexity"] is None:
            return "inf"
        return f"{t['bits_per_char']:.3f}" if unit == "bits/char" else f"{t['perplexity']:.2f}"

    others = ", ".join(f"{r['model']} ({value(r)})" for r in rows[1:]) or "no other model"
    first = f"{best['model']} is best with test {unit} {value(best)}, ahead of {others}."
    ngrams = [r for r in rows if r["kind"] == "ngram" and r["test"]["nats_per_token"] is not None]
    neural = [r for r in rows if r["kind"] != "ngram" and r["test"]["nats_per_token"] is not None]
    floor = result["floor_test_nats"]
    if floor is not None and ngrams and neural:
        n_gap = min(r["test"]["gap_nats"] for r in ngrams)
        best_neural = min(neural, key=lambda r: r["test"]["gap_nats"])
        second = (
            f"Above the entropy floor the best n-gram is {n_gap:.3f} nats/token, "
            f"{best_neural['model']} {best_neural['test']['gap_nats']:.3f}: "
        )
        second += ("the recurrent model uses context an n-gram cannot see." if
                   best_neural["test"]["gap_nats"] < n_gap else
                   "within this budget the recurrent models have not yet beaten counting.")  # fmt: skip
    else:
        second = (f"The spread from {value(best)} to {value(worst)} comes from the same token "
                  f"stream scored the same way, so it is the models that differ.")  # fmt: skip
    return f"{first} {second}"
