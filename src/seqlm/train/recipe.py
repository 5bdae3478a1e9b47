"""The recipe for a corpus without a preset, from its size and the time budget.

One fixed model is right for no corpus (a small unregularised LSTM overfits a ~200K-token
corpus within two epochs and ends far behind a 5-gram). What decides a good recipe is how
many training tokens there are per parameter and how many tokens the budget lets the CPU
read:

- small corpora (< 1M tokens) that the budget reads more than a few times need strong
  regularisation: a modest LSTM with AWD-style dropout (variational, word-type,
  weight drop) and many epochs; read a few times only, they learn faster with the PTB
  recipe's shape;
- PTB-sized ones (1M-10M) take the PTB recipe's 2x650 shape, still well regularised;
- large ones get a bigger model, little dropout (one epoch is already more than a CPU
  budget reads), and an adaptive softmax once the vocabulary is large.

The optimiser is AdamW with a short warm-up and a cosine decay over the steps the budget
(or the epoch count) allows: robust across sizes, where SGD's lr depends on the corpus.
Validation checks a fixed prefix of the valid split and is kept to 10% of the wall time;
the best checkpoint is scored on the whole split at the end. Every choice is logged with
its reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

log = logging.getLogger(__name__)

# Tokens/s of training on 2 CPU cores, measured for the PTB preset's 2x650 model (~3,100 with
# the adaptive softmax, ~1,300 with a full one): cost per token scales with hidden^2.
TOKENS_PER_S_650 = 2_000.0
SIZES = (1024, 650, 400, 200)  # the shapes a time budget steps down through
FEW_PASSES = 4  # a corpus read this many times or fewer in the budget does not overfit


def auto_recipe(
    train_tokens: int,
    vocab_size: int,
    max_minutes: float = 0.0,
    rate: Callable[[dict], float] | None = None,
) -> dict:
    """Flat settings (as a preset) for a corpus of `train_tokens` and a budget in minutes.

    `rate`: flat settings -> training tokens/s measured on this machine (`calibrate`);
    without it, a constant scaled by hidden^2. Under a time budget, a size the budget
    cannot read one epoch of the data with steps down (``SIZES``): a model that sees each
    token once or less is better smaller and read more (the rate only counts then: a
    token budget or none trains the same model on every machine)."""
    reasons = []
    passes = _passes_at_650(train_tokens, vocab_size, max_minutes, rate)
    if train_tokens < 1_000_000 and passes > FEW_PASSES:
        size, dropout, words, weight_drop = 400, 0.5, 0.1, 0.3
        reasons.append(
            f"{train_tokens:,} training tokens (< 1M): a 2x{size} LSTM with "
            "strong AWD-style dropout, since a small corpus read many times overfits"
        )
    elif train_tokens < 10_000_000:
        size, dropout, words, weight_drop = 650, 0.4, 0.1, 0.2
        why = f"the budget reads it only ~{passes:.1f} times, too few to overfit"
        if train_tokens >= 1_000_000:
            why = "PTB-sized"
        reasons.append(
            f"{train_tokens:,} training tokens: {why}, a 2x{size} LSTM with moderate dropout"
        )
    else:
        size, dropout, words, weight_drop = 1024, 0.1, 0.0, 0.0
        reasons.append(
            f"{train_tokens:,} training tokens (>= 10M): a 2x{size} LSTM with "
            "little dropout (a CPU budget reads less than an epoch)"
        )
    recipe = dict(
        cell="lstm",
        embed=size,
        hidden=size,
        layers=2,
        dropout=dropout,
        dropout_embed=min(dropout, 0.3),
        dropout_between=min(dropout, 0.3),
        dropout_words=words,
        weight_drop=weight_drop,
        variational=True,
        batch_size=32 if train_tokens < 1_000_000 else 64,
        bptt=35,
        variable_bptt=True,
        optimizer="adamw",
        lr=3e-3,
        weight_decay=0.01,
        clip=1.0,
        warmup_steps=50,
        eval_share=0.1,
        eval_tokens=50_000,
        eval_streams=10,
    )
    if vocab_size > 20_000:
        recipe.update(adaptive_cutoffs=[2000, 10000])
        reasons.append(f"vocabulary {vocab_size:,} (> 20k): adaptive softmax (untied)")
    elif vocab_size > 6_000:
        # a full softmax over more than 6K words takes most of the step: on PTB in 15 min
        # (2 threads) a 2x650 model read 1,670 tokens/s with it and ended at 155.95, with
        # the adaptive one 3,233 and 116.47 (docs/results/own-text.txt, defaults.txt); a
        # 2x400 one on the docstrings corpus (19K words) read 1,722 tokens/s tied and ended
        # at 35.63, adaptive 4,707 and 24.19: the full softmax is 3/4 of its arithmetic
        recipe.update(adaptive_cutoffs=[2000, 6000])
        reasons.append(
            f"vocabulary {vocab_size:,} (> 6k): adaptive softmax (untied), twice as fast "
            "as a full one"
        )
    else:
        recipe.update(tied=True)
        reasons.append(f"vocabulary {vocab_size:,}: a full softmax, tied to the embedding")
    tokens_per_s = TOKENS_PER_S_650 * (650 / size) ** 2
    if max_minutes and rate is not None:
        size, tokens_per_s = _fit_size(recipe, size, train_tokens, max_minutes, rate, reasons)
    if max_minutes:
        how = "measured here" if rate is not None else "assumed"
        readable = tokens_per_s * max_minutes * 60
        # the budget stops the run: the epochs leave room for a forecast that is low
        epochs = max(1, min(50, math.ceil(2 * readable / train_tokens)))
        # the estimate may be off: the schedule follows the clock, holding the peak lr and
        # annealing over the last quarter (a cosine over the whole run costs ~15% early on:
        # docs/results/ptb-schedule-ab.txt); a corpus read many times anneals over the
        # last half: held at the peak lr, validation rose again from mid-run on (15 min on
        # 2 threads: docstrings 442 -> 478, fortunes 358 -> 396), the best weights a mid-run's
        many = readable / train_tokens > FEW_PASSES
        share, said = (0.5, "half") if many else (0.25, "quarter")
        recipe.update(budget_schedule=True, decay_fraction=share)
        reasons.append(
            f"budget {max_minutes:g} min at ~{tokens_per_s:,.0f} tokens/s ({how}) reads "
            f"~{readable / 1e6:.1f}M tokens ({readable / train_tokens:.1f} epochs; the budget "
            f"stops the run, at {epochs} epochs at most); peak lr, then a cosine over the "
            f"budget's last {said}"
        )
    else:
        epochs = max(1, min(40, round(20_000_000 / train_tokens)))
        if rate is not None:
            tokens_per_s, where = rate(recipe), "this machine at its measured rate"
        else:
            where = "a 2-core CPU"
        hours = epochs * train_tokens / tokens_per_s / 3600
        reasons.append(
            f"no --max-minutes: {epochs} epoch(s) (~{epochs * train_tokens / 1e6:.0f}M tokens "
            f"read; {where} needs ~{hours:.1f} h)"
        )
    recipe["epochs"] = epochs
    recipe["eval_every"] = max(100, min(1000, train_tokens // (recipe["batch_size"] * 35 * 4)))
    reasons.append(
        "validation: every {} steps on the first {:,} valid tokens, at most 10% of "
        "the wall time; the best checkpoint is scored on the whole split at the "
        "end".format(recipe["eval_every"], recipe["eval_tokens"])
    )
    log.info("no preset for this corpus; recipe picked from its size and the budget:")
    for reason in reasons:
        log.info("  - %s", reason)
    return recipe


def _passes_at_650(
    train_tokens: int, vocab_size: int, max_minutes: float, rate: Callable[[dict], float] | None
) -> float:
    """How many times a 2x650 model would read the corpus in the budget (inf without one).

    Measured on PTB's 929,589 tokens in 15 min: read ~3 times, a 2x650 LSTM with moderate
    dropout ends at test 116.47 where the 2x400 small-corpus recipe ends at 143.37
    (docs/results/defaults.txt, own-text.txt); read 8-12 times (200K-token corpora), the
    small-corpus recipe is the one that beats the 5-gram."""
    if not max_minutes:
        return math.inf
    shape = dict(cell="lstm", embed=650, hidden=650, layers=2, batch_size=64, bptt=35)
    if vocab_size > 6_000:
        shape.update(adaptive_cutoffs=[2000, 10000] if vocab_size > 20_000 else [2000, 6000])
    tokens_per_s = rate(shape) if rate is not None else TOKENS_PER_S_650
    return tokens_per_s * max_minutes * 60 / max(train_tokens, 1)


def _fit_size(
    recipe: dict,
    size: int,
    train_tokens: int,
    max_minutes: float,
    rate: Callable[[dict], float],
    reasons: list,
) -> tuple[int, float]:
    """The largest size from `size` down whose measured rate reads an epoch in the budget
    (else the smallest); `recipe` is set to it. Returns the size and its rate."""
    sizes = [s for s in SIZES if s <= size]
    for n, candidate in enumerate(sizes):
        recipe.update(embed=candidate, hidden=candidate)
        tokens_per_s = rate(recipe)
        epochs = tokens_per_s * max_minutes * 60 / max(train_tokens, 1)
        if epochs >= 1 or n == len(sizes) - 1:
            break
        reasons.append(
            f"2x{candidate} measured at {tokens_per_s:,.0f} tokens/s here would read "
            f"{epochs:.2f} epoch(s) in {max_minutes:g} min: one size down"
        )
    return candidate, tokens_per_s
