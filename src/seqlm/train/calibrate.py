"""The plan of a run, measured on this machine: tokens/s, tokens, epochs, finish time.

A constant rate is wrong by 10x on a busy machine, which is exactly when a forecast
matters. So before training, a handful of real steps (forward, backward, optimizer) of the
model's shape are timed with the run's thread count, on random batches drawn by the
training split's word frequencies (an adaptive softmax costs more for a rare word): at
most `SECONDS` per shape and `MAX_STEPS` steps, the first step not counted, the median step
setting the rate. The rate feeds the recipe's size choice (only under --max-minutes: a
token budget trains the same model on every machine) and the forecast printed before
training; the end of the run prints the forecast against what happened.

`SEQLM_CALIBRATE=0` turns calibration off (and the 5-gram verdict with it): the recipe then
uses its constant rate, so the model trained never depends on the machine (the tests do so).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from seqlm.data.corpus import Corpus
from seqlm.train.config import TrainConfig, preset_for
from seqlm.train.rundir import rank_zero

log = logging.getLogger(__name__)

SECONDS = 1.0  # per shape timed after the warm-up step (a slower step: timed alone)
MAX_STEPS = 8  # timed steps per shape, after one warm-up step
# The verdict's rule, fitted on ten 5-15 minute runs of the recipe on word-level corpora
# (docs/results/defaults.txt, small-corpus-recipe.txt and a 1.8 MB prose corpus; 0.12M to
# 2.9M tokens read): the LSTM's perplexity is about (tokens read / 2M) ** -0.8 times the
# corpus's 5-gram's, within ~1.5x either way.
PARITY_TOKENS = 2_000_000
PARITY_EXPONENT = 0.8
VERDICT_MAX_TOKENS = 5_000_000  # larger corpora: the 5-gram takes more than seconds

_rates: dict[tuple, float] = {}


def enabled() -> bool:
    """Whether to calibrate: unless SEQLM_CALIBRATE is 0/false/off/no."""
    return os.environ.get("SEQLM_CALIBRATE", "1").strip().lower() not in ("0", "false", "off", "no")


def measure(config: TrainConfig, vocab, threads: int | None = None) -> float:
    """Training tokens/s of `config`'s model, batch and window on this machine (cached per
    shape). The RNG state is restored afterwards: the run itself is unchanged."""
    import torch  # here: `import seqlm` does not load torch

    from seqlm.nn.build import build_model

    threads = config.threads if threads is None else threads
    model_config = {k: v for k, v in asdict(config.model).items() if k != "vocab_size"}
    key = (tuple(sorted((k, str(v)) for k, v in model_config.items())), len(vocab), threads)
    key += (config.batch_size, config.bptt, config.backend, config.optimizer)
    if key in _rates:
        return _rates[key]
    previous = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            config.model.vocab_size = len(vocab)
            model = build_model(config.model, vocab, config.backend)
            model.train()
            if config.optimizer == "adamw":
                optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            else:
                optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
            window = config.bptt  # shorter windows mis-scale the per-step costs
            # uniform ids would put most targets in the adaptive softmax's rare-word
            # clusters: the forecast then ran 12-44% under the actual rate
            counts = torch.tensor(vocab.counts, dtype=torch.float64)
            weights = counts if counts.sum() > 0 else torch.ones(len(vocab), dtype=torch.float64)
            steps, begin = [], time.perf_counter()
            for step in range(MAX_STEPS + 1):
                ids = torch.multinomial(weights, (window + 1) * config.batch_size, True)
                ids = ids.view(window + 1, config.batch_size)
                t0 = time.perf_counter()
                loss, _ = model(ids[:-1], ids[1:], None)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                t2 = time.perf_counter()
                if step == 0:  # warm-up (allocations, oneDNN's kernels for the shape): never
                    begin = time.perf_counter()  # counted, or a slow first step sets the rate
                    continue
                steps.append(t2 - t0)
                if time.perf_counter() - begin > SECONDS:
                    break
            # the median step: one step slowed by the machine (or a collection) does not
            # set the rate
            rate = config.bptt * config.batch_size / max(statistics.median(steps), 1e-9)
    finally:
        torch.set_num_threads(previous)
    _rates[key] = rate
    return rate


def rate_of(vocab, threads: int):
    """The recipe's measure: flat settings -> tokens/s here (None when calibration is off)."""
    if not enabled():
        return None
    return lambda flat: measure(TrainConfig.from_flat(flat), vocab, threads)


@dataclass
class Forecast:
    """What a run is expected to read and when it should end; `limit` names the budget."""

    tokens_per_s: float
    measured: bool
    tokens: int
    epochs: float
    seconds: float
    limit: str  # max_tokens, max_minutes, max_steps, epochs
    finish: str  # clock time, HH:MM

    def to_json(self) -> dict:
        return asdict(self)


def forecast(config: TrainConfig, corpus: Corpus, fallback_rate: float) -> Forecast:
    """The run's forecast: measured here unless calibration is off (then `fallback_rate`)."""
    measured = enabled()
    rate = measure(config, corpus.vocab) if measured else fallback_rate
    train_tokens = max(len(corpus["train"]), 1)
    window = config.batch_size * config.bptt
    budgets = {"epochs": config.epochs * train_tokens}
    if config.max_steps:
        budgets["max_steps"] = config.max_steps * window
    if config.max_tokens:
        budgets["max_tokens"] = config.max_tokens
    if config.max_minutes:
        budgets["max_minutes"] = int(rate * config.max_minutes * 60)
    limit = min(budgets, key=budgets.get)
    tokens = budgets[limit]
    seconds = tokens / max(rate, 1e-9)
    wall = seconds / (1 - config.eval_share) if config.eval_share else seconds
    finish = (datetime.now() + timedelta(seconds=wall)).strftime("%H:%M")
    epochs, seconds = round(tokens / train_tokens, 2), round(seconds, 1)
    return Forecast(round(rate, 1), measured, tokens, epochs, seconds, limit, finish)


def announce(config: TrainConfig, corpus: Corpus) -> Forecast | None:
    """Log the forecast (and the 5-gram verdict) before training; None on the non-zero
    ranks of a distributed run, which leave the planning to rank 0."""
    from seqlm.train.recipe import TOKENS_PER_S_650

    if not rank_zero():
        return None
    assumed = TOKENS_PER_S_650 * (650 / max(config.model.hidden, 1)) ** 2
    fc = forecast(config, corpus, assumed)
    log.info("%s", describe(fc, config))
    line = verdict(fc, corpus, config)
    if line:
        log.info("%s", line)
    return fc


def describe(fc: Forecast, config: TrainConfig) -> str:
    """The forecast as one line; without a budget, how long the run takes here."""
    how = "measured here" if fc.measured else "assumed (calibration off)"
    threads = f"{config.threads} thread(s)" if config.threads else "torch's default threads"
    m = config.model
    shape = f"{m.layers}x{m.hidden} {m.cell}"
    if m.cell == "transformer":  # its --hidden is the MLP's width, not the model's
        shape = f"{m.layers} blocks of {m.embed} (MLP {m.hidden}) transformer"
    head = (
        f"forecast: ~{fc.tokens_per_s:,.0f} tokens/s ({how}: {shape}, "
        f"batch {config.batch_size}, {threads})"
    )
    body = f"reads ~{_tokens(fc.tokens)} tokens ({fc.epochs:.1f} epochs)"
    end = f"training ends about {fc.finish}"
    if config.eval_share:
        end += f" (validation up to {config.eval_share:.0%} included)"
    if fc.limit == "max_minutes":
        return f"{head}; the {config.max_minutes:g}-minute budget {body}; {end}"
    if fc.limit == "max_tokens":
        return f"{head}; the token budget {body} in ~{_duration(fc.seconds)}; {end}"
    line = f"{head}; the run {body} in ~{_duration(fc.seconds)}; {end}"
    if not config.max_minutes and not config.max_tokens:
        line += "; pass --max-minutes M (or --max-tokens N) to bound it"
    return line


def versus(fc: Forecast, summary: dict) -> str:
    """Forecast against what the run did, with the ratios (actual / forecast)."""
    rate, tokens = summary["tokens_per_s"], summary["tokens"]
    return (
        f"forecast vs actual: {fc.tokens_per_s:,.0f} vs {rate:,.0f} tokens/s "
        f"({rate / max(fc.tokens_per_s, 1e-9):.2f}x), {_tokens(fc.tokens)} vs "
        f"{_tokens(tokens)} tokens ({tokens / max(fc.tokens, 1):.2f}x)"
    )


def expected_ratio(tokens: float) -> float:
    """The forecast LSTM/5-gram perplexity ratio after `tokens` training tokens (the rule above)."""
    return (max(tokens, 1.0) / PARITY_TOKENS) ** -PARITY_EXPONENT


def verdict(fc: Forecast, corpus: Corpus, config: TrainConfig) -> str | None:
    """One line when the neural model is forecast to end above the corpus's 5-gram (valid
    perplexity), with the budget that would reach it; None when it should reach it, or
    when the rule does not apply (calibration off, character-level, a large corpus, a
    corpus with its own preset)."""
    if not enabled() or corpus.level in ("char", "byte") or "valid" not in corpus.splits:
        return None
    if corpus.spec is not None and preset_for(corpus.spec.source, corpus.level):
        return None  # the rule is the recipe's; a corpus's own preset is tuned apart
    if len(corpus["train"]) > VERDICT_MAX_TOKENS:
        return None
    from seqlm.evaluate import evaluate
    from seqlm.ngram import build

    with warnings.catch_warnings():  # tiny corpora: the discount fallback is not news here
        warnings.simplefilter("ignore")
        five = evaluate(build(corpus, 5), corpus, "valid").perplexity
    ratio = expected_ratio(fc.tokens)
    if ratio <= 1.0 or not math.isfinite(five):
        log.info(
            "forecast: the %s should reach the 5-gram (valid perplexity %.1f) after ~%s "
            "tokens (rule: (tokens / 2M) ^ -0.8 times the 5-gram's)",
            config.model.cell,
            five,
            _tokens(fc.tokens),
        )
        return None
    needed = PARITY_TOKENS / 60 / max(fc.tokens_per_s, 1e-9)
    return (
        f"forecast: the {config.model.cell} will NOT reach the 5-gram in this budget "
        f"(~{five * ratio:.0f} vs the 5-gram's {five:.1f} valid perplexity after "
        f"~{_tokens(fc.tokens)} tokens); --max-minutes {math.ceil(needed)} would "
        f"(~{_tokens(PARITY_TOKENS)} tokens at {fc.tokens_per_s:,.0f} tokens/s; a rough rule: "
        "perplexity ~ (tokens / 2M) ^ -0.8 times the 5-gram's)"
    )


def _tokens(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n:,.0f}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
