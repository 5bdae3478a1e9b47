"""Every model on one corpus, one vocabulary, one yardstick.

`compare` trains (or reuses) each model of a list such as ``ngram:3,ngram:5,rnn,lstm,gru``
on the same corpus, evaluates each with `seqlm.evaluate.evaluate` (the function behind
`seqlm eval`, so the table equals what `seqlm eval` prints for each saved model) and
ranks them, with a paired bootstrap deciding whether neighbours in the ranking differ.

The budget is in training tokens by default: every neural model sees the same tokens in
the same order from the same seed, on single-threaded deterministic kernels, so the table
is the same on any machine (a wall-clock budget gives a fast model more data and a busy
machine less). Each model lives in a directory keyed by the corpus, the model, the budget,
the seed and the settings, so a re-run reuses the models that finished ("cached" in the
table) unless `retrain` is set; a lock and an atomic rename keep concurrent runs from
reading a half-written model.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from seqlm.compare.ahead import train_ahead
from seqlm.compare.rank import FIGURES, rank_rows, tokenizer_of
from seqlm.data.corpus import Corpus, cache_root
from seqlm.evaluate import evaluate, to_model_ids
from seqlm.evaluate.significance import BLOCK, RESAMPLES, paired_bootstrap, rank_adjacent
from seqlm.io import SeqlmError, atomic_write_text, json_digest
from seqlm.ngram.smoothing import DEFAULT_SMOOTHING, SMOOTHINGS
from seqlm.nn.config import CELLS
from seqlm.report.table import format_table, summary_sentences  # noqa: F401  (re-exported)

CURVE_POINTS = 6  # validations per learning curve
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "ngram" or a neural kind
    order: int = 0
    smoothing: str = DEFAULT_SMOOTHING

    @property
    def name(self) -> str:
        if self.kind != "ngram":
            return self.kind
        suffix = "" if self.smoothing == DEFAULT_SMOOTHING else f" {self.smoothing}"
        return f"{self.order}-gram{suffix}"


def parse_models(text: str) -> list[ModelSpec]:
    specs = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.lower().split(":")
        if parts[0] in CELLS and len(parts) == 1:
            specs.append(ModelSpec(parts[0]))
        elif parts[0] == "ngram" and len(parts) in (2, 3) and parts[1].isdigit():
            smoothing = parts[2] if len(parts) == 3 else DEFAULT_SMOOTHING
            if smoothing not in SMOOTHINGS or not 1 <= int(parts[1]) <= 10:
                raise SeqlmError(
                    f"bad model spec {item!r} (order 1-10, smoothing one of "
                    f"{', '.join(SMOOTHINGS)})"
                )
            specs.append(ModelSpec("ngram", int(parts[1]), smoothing))
        else:
            raise SeqlmError(
                f"unknown model spec {item!r} (use ngram:N[:smoothing] or a cell: "
                f"{', '.join(CELLS)})"
            )
    if not specs:
        raise SeqlmError("no models to compare")
    return specs


@dataclass(frozen=True)
class Budget:
    """Training per neural model: a number of tokens (reproducible) or minutes of time."""

    tokens: int = 0
    minutes: float = 0.0

    def describe(self) -> str:
        if self.tokens:
            return f"{self.tokens:,} training tokens per neural model (the same on every machine)"
        return (
            f"{self.minutes:g} min of training time per neural model (the tokens seen "
            "depend on this machine's speed and load)"
        )

    def overrides(self, train_tokens: int) -> dict:
        """Training settings for this budget: about CURVE_POINTS validations per learning
        curve, read as 10 streams (2x faster; the table's figures are scored exactly after)."""
        if self.minutes:
            return {"max_minutes": self.minutes, "eval_minutes": self.minutes / CURVE_POINTS}
        # eval_every is set once the batch shape is known
        return {
            "max_tokens": self.tokens,
            "epochs": self.tokens // max(train_tokens, 1) + 2,
            "threads": 1,
            "deterministic": True,
            "eval_minutes": 0.0,
            "eval_every": 0,
            "eval_streams": 10,
        }


UNITS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}


def parse_budget(text: str) -> Budget:
    """'2M', '500k' or '300000' training tokens; '90s', '10m', '1.5h' of training time.
    (Capital M is a million tokens, lower-case m minutes.)"""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKMGsmh]?)\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise SeqlmError(f"cannot parse budget {text!r} (tokens: 2M, 500k; time: 90s, 10m, 1h)")
    value, unit = float(match.group(1)), match.group(2)
    if unit in UNITS:
        return Budget(tokens=max(1, round(value * UNITS[unit])))
    return Budget(minutes=value * {"s": 1 / 60, "m": 1, "h": 60}[unit])


def model_dir(root: Path, corpus_key: dict, spec: ModelSpec, settings: dict) -> Path:
    """The cache key: corpus settings, model spec, budget, seed and training overrides."""
    key = json_digest({"corpus": corpus_key, "spec": spec.__dict__, "settings": settings}, 10)
    return root / f"{spec.name.replace(' ', '-')}-{key}"


@contextmanager
def model_lock(directory: Path):
    """Only one process trains, replaces or loads a given model directory at a time: the
    others wait for ROOT/.NAME.lock (an OS lock, dropped when its holder dies)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(directory.parent / f".{directory.name}.lock"):
        yield


def train_or_load(
    spec: ModelSpec,
    corpus: Corpus,
    directory: Path,
    budget: Budget,
    seed: int,
    neural_overrides: dict,
    progress: bool,
    retrain: bool = False,
) -> dict:
    """Train into `directory` unless a finished model is there (or `retrain`); its facts.
    Training happens in DIRECTORY.partial (resumed if a run was interrupted), which is
    renamed into place once finished, so a finished directory is never half-written."""
    done = directory / "compare.json"
    if done.exists() and not retrain:
        return {**json.loads(done.read_text()), "cached": True}
    work = directory.with_name(directory.name + ".partial")
    if retrain and work.exists():
        shutil.rmtree(work)
    if spec.kind == "ngram":
        from seqlm.ngram import NgramLM

        start = time.perf_counter()
        model = NgramLM.train(corpus["train"], corpus.vocab, spec.order, spec.smoothing)
        seconds = time.perf_counter() - start
        extra = {"corpus": corpus.spec.to_json(), "train_seconds": round(seconds, 3)}
        model.save(work, extra, overwrite=True)  # an interrupted attempt's leftovers
        facts = {
            "train_seconds": seconds,
            "tokens": len(corpus["train"]),
            "tokens_per_s": len(corpus["train"]) / seconds,
            "history": [],
        }
    else:
        from seqlm.train import Trainer, make_config

        overrides = {
            **budget.overrides(len(corpus["train"])),
            **neural_overrides,
            "cell": spec.kind,
            "seed": seed,
        }
        config = make_config(corpus.spec.source, None, overrides)
        if budget.tokens and not config.eval_every:
            steps = budget.tokens // (config.batch_size * config.bptt)
            config.eval_every = max(1, steps // CURVE_POINTS)
        resume = (work / "trainer.safetensors").exists()
        # its own staging directory: a claim killed before any checkpoint starts over
        trainer = Trainer(config, corpus, work, resume=resume, progress=progress, overwrite=True)
        summary = trainer.run()
        if summary["stop"] == "interrupted":
            raise KeyboardInterrupt
        facts = {
            "train_seconds": summary["train_seconds"],
            "tokens": summary["tokens"],
            "tokens_per_s": summary["tokens_per_s"],
            "history": trainer.progress.history,
        }
    atomic_write_text(work / "compare.json", json.dumps(facts))
    old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
    if directory.exists():
        directory.rename(old)
    work.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return {**facts, "cached": False}


@contextmanager
def scoring_threads(count: int | None):
    """Scoring on `count` threads (the kernels' sums are then the same on every machine)."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _score(model, corpus: Corpus, split: str, progress: bool) -> np.ndarray:
    """The split's per-token log-probabilities, with a bar for a recurrent model (the
    n-grams score a split in well under a second)."""
    ids = to_model_ids(model, corpus, split)
    if model.kind == "ngram" or not progress:
        return model.log_probs(ids)
    from tqdm import tqdm

    with tqdm(
        total=len(ids),
        unit="tok",
        unit_scale=True,
        desc=f"score {split}",
        leave=False,
        disable=None,
        dynamic_ncols=True,
    ) as bar:
        return model.log_probs(ids, progress=bar.update)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _aggregate(runs: list[dict], split: str) -> dict:
    """The split's figures as the mean over seeds, with the seed-to-seed sd beside each."""
    out = dict(runs[0][split])
    for key in FIGURES:
        values = [r[split].get(key) for r in runs]
        if values[0] is None or any(v is None for v in values):
            continue
        out[key], out[f"{key}_sd"] = _mean_sd(values)
    out["seeds"] = len(runs)
    return out


def compare(
    corpus: Corpus,
    specs: list[ModelSpec],
    root: Path | None,
    budget: Budget,
    neural_overrides: dict | None = None,
    progress: bool = False,
    seeds: int = 1,
    retrain: bool = False,
) -> tuple[dict, dict, dict]:
    """(result for the table and report, the loaded models (first seed), test per-token
    losses as (seeds, tokens) arrays). `root`: where models are kept and reused (default:
    beside the corpus cache). Neural models are trained `seeds` times (seeds 1..K)."""
    from seqlm.loading import load

    root = Path(root) if root else cache_root().parent / "models"
    neural_overrides = neural_overrides or {}
    corpus_key = corpus.spec.to_json()
    rows, losses, models = [], {}, {}

    def settings_of(spec: ModelSpec, seed: int) -> dict:
        if spec.kind == "ngram":
            return {}
        return {
            "budget": asdict(budget),
            "seed": seed,
            "curve": CURVE_POINTS,
            **budget.overrides(len(corpus["train"])),
            **neural_overrides,
        }

    runs_of = {spec: range(1, (seeds if spec.kind != "ngram" else 1) + 1) for spec in specs}
    ahead: set[str] = set()
    if budget.tokens:  # deterministic one-thread runs: as many at once as there are cores
        jobs = [
            (spec, model_dir(root, corpus_key, spec, settings_of(spec, seed)), budget, seed)
            for spec in specs
            if spec.kind != "ngram"
            for seed in runs_of[spec]
        ]
        jobs = [(*job, neural_overrides) for job in jobs]
        ahead = train_ahead(jobs, corpus.spec, train_or_load, model_lock, retrain)
    with scoring_threads(1 if budget.tokens else None):
        for spec in specs:
            runs, test_losses = [], []
            for seed in runs_of[spec]:
                settings = settings_of(spec, seed)
                directory = model_dir(root, corpus_key, spec, settings)
                new = str(directory) in ahead  # trained a moment ago, side by side
                with model_lock(directory):
                    cached = (directory / "compare.json").exists() and not retrain
                    doing = "trained" if new else "reusing" if cached else "training"
                    log.info(
                        "%s%s: %s %s",
                        spec.name,
                        f" seed {seed}" if settings else "",
                        doing,
                        directory,
                    )
                    facts = train_or_load(
                        spec,
                        corpus,
                        directory,
                        budget,
                        seed,
                        neural_overrides,
                        progress,
                        retrain and not new,
                    )
                    facts["cached"] = facts["cached"] and not new
                    model = load(directory)
                log.info("%s: scoring valid and test", spec.name)
                valid_log_probs = _score(model, corpus, "valid", progress)
                test_log_probs = _score(model, corpus, "test", progress)
                runs.append(
                    {
                        "seed": seed,
                        "path": str(directory),
                        **facts,
                        "valid": evaluate(model, corpus, "valid", valid_log_probs).to_json(),
                        "test": evaluate(model, corpus, "test", test_log_probs).to_json(),
                    }
                )
                test_losses.append(-test_log_probs)
                models.setdefault(spec.name, model)
            first = runs[0]
            rows.append(
                {
                    "model": spec.name,
                    "kind": spec.kind,
                    "tokenizer": tokenizer_of(models[spec.name]),
                    "path": first["path"],
                    "parameters": models[spec.name].num_parameters(),
                    "cached": all(r["cached"] for r in runs),
                    "history": first["history"],
                    "tokens": first["tokens"],
                    "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
                    "tokens_per_s": float(np.mean([r["tokens_per_s"] for r in runs])),
                    "valid": _aggregate(runs, "valid"),
                    "test": _aggregate(runs, "test"),
                    "runs": [{k: v for k, v in r.items() if k != "history"} for r in runs],
                }
            )
            losses[spec.name] = np.stack(test_losses)
    rule = rank_rows(rows)  # by perplexity, or bits per byte where tokenizers differ
    paired = rule["unit"] == "perplexity"  # the same token stream: paired tests apply
    result = {
        "corpus": corpus.name,
        "level": corpus.level,
        "budget": asdict(budget),
        "budget_text": budget.describe(),
        "seeds": seeds,
        "floor_test_nats": corpus.entropy_floor("test"),
        "rows": rows,
        "bootstrap": {"block": BLOCK, "resamples": RESAMPLES, "level": 0.95},
        "ranked_by": rule["unit"],
        "rank_note": rule["note"],
        "ranking": rank_adjacent([r["model"] for r in rows], losses) if paired else [],
    }
    result["neural_vs_ngram"] = _best_neural_vs_ngram(rows, losses) if paired else None
    return result, models, losses


def _best_neural_vs_ngram(rows: list[dict], losses: dict) -> dict | None:
    """The best recurrent model against the best n-gram (they need not be neighbours)."""
    finite = [r for r in rows if r["test"]["nats_per_token"] is not None]
    neural = [r["model"] for r in finite if r["kind"] != "ngram"]
    ngrams = [r["model"] for r in finite if r["kind"] == "ngram"]
    if not neural or not ngrams:
        return None
    test = paired_bootstrap(losses[ngrams[0]], losses[neural[0]])
    return {"neural": neural[0], "ngram": ngrams[0], **test}
