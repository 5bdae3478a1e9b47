"""The recipe for a corpus without a preset, from its size and the time budget.

One fixed model is right for no corpus (a small unregularised LSTM overfits a ~200K-token
corpus within two epochs and ends far behind a 5-gram). What decides a good recipe is how
many training tokens there are per parameter and how many tokens the budget lets the CPU
read:

- small corpora (< 1M tokens) need strong regularisation: a modest tied LSTM with
  AWD-style dropout (variational, word-type, weight drop) and many epochs;
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

log = logging.getLogger(__name__)

# Tokens/s of training on 2 CPU cores, measured for the PTB preset's 2x650 model (~3,100 with
# the adaptive softmax, ~1,300 with a full one): cost per token scales with hidden^2.
TOKENS_PER_S_650 = 2_000.0


def auto_recipe(train_tokens: int, vocab_size: int, max_minutes: float = 0.0) -> dict:
    """Flat settings (as a preset) for a corpus of `train_tokens` and a budget in minutes."""
    reasons = []
    if train_tokens < 1_000_000:
        size, dropout, words, weight_drop = 400, 0.5, 0.1, 0.3
        reasons.append(
            f"{train_tokens:,} training tokens (< 1M): a 2x{size} tied LSTM with "
            "strong AWD-style dropout, since a small corpus overfits"
        )
    elif train_tokens < 10_000_000:
        size, dropout, words, weight_drop = 650, 0.4, 0.1, 0.2
        reasons.append(
            f"{train_tokens:,} training tokens (1M-10M): PTB-sized, a 2x{size} LSTM "
            "with moderate dropout"
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
    else:
        recipe.update(tied=True)
    tokens_per_s = TOKENS_PER_S_650 * (650 / size) ** 2
    if max_minutes:
        readable = tokens_per_s * max_minutes * 60
        epochs = max(1, min(50, round(readable / train_tokens)))
        # the estimate may be off: the schedule follows the clock, holding the peak lr and
        # annealing over the last quarter (a cosine over the whole run costs ~15% early on:
        # docs/results/ptb-schedule-ab.txt)
        recipe.update(budget_schedule=True, decay_fraction=0.25)
        reasons.append(
            f"budget {max_minutes:g} min at ~{tokens_per_s:,.0f} tokens/s reads "
            f"~{readable / 1e6:.1f}M tokens: {epochs} epoch(s); peak lr, then a cosine "
            "over the budget's last quarter"
        )
    else:
        epochs = max(1, min(40, round(20_000_000 / train_tokens)))
        reasons.append(
            f"no --max-minutes: {epochs} epoch(s) (~20M tokens read; a 2-core CPU "
            f"needs ~{20e6 / tokens_per_s / 3600:.1f} h)"
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
