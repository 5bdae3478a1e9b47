"""The run's rules, as functions of its settings and its progress: the lr of a step, when
to validate, what a validation changes, why to stop.

Pure (no model, no device, no other process), so each rule reads, and is tested, alone;
the trainer acts on them, and makes the processes of a distributed run agree.
"""

from __future__ import annotations

import math
from enum import StrEnum

from seqlm.train.asgd import should_start_averaging
from seqlm.train.config import TrainConfig
from seqlm.train.resumable import Progress


class Stop(StrEnum):
    """Why a run stopped; the value is what the summary says. Processes that disagree stop
    together for the reason declared last among theirs (the trainer agrees on the maximum)."""

    NONE = ""
    EPOCHS = "epochs"
    MAX_STEPS = "max_steps"
    EARLY_STOP = "early_stop"
    BUDGET = "budget"
    INTERRUPTED = "interrupted"
    MAX_TOKENS = "max_tokens"


def total_steps(c: TrainConfig, steps_per_epoch: int) -> int:
    """The steps the schedule spans: the epochs', unless a step or token budget ends it."""
    steps = c.epochs * steps_per_epoch
    if c.max_steps:
        steps = min(steps, c.max_steps)
    if c.max_tokens:  # the schedule ends where the token budget does
        steps = min(steps, -(-c.max_tokens // (c.batch_size * c.bptt)))
    return steps


def lr_at(c: TrainConfig, p: Progress, total: int, step: int, window: int | None = None) -> float:
    """The lr of `step` (of `total`); with --lr-by-window scaled by the window's length /
    bptt (AWD: a short window takes a proportionally small step)."""
    if c.lr_by_window and window is not None:
        return lr_at(c, p, total, step) * window / c.bptt
    if c.optimizer in ("sgd", "ntasgd"):
        return p.sgd_lr
    if step < c.warmup_steps:
        return c.lr * (step + 1) / c.warmup_steps
    progress = min((step - c.warmup_steps) / max(total - c.warmup_steps, 1), 1.0)
    if c.budget_schedule and c.max_minutes:  # the cosine ends with the time budget
        spent = p.budget_spent(c.budget_includes_eval)
        progress = max(progress, min(spent / (c.max_minutes * 60), 1.0))
    if c.decay_fraction:  # warmup-stable-decay: the cosine only over the last part
        progress = max(0.0, progress - (1 - c.decay_fraction)) / c.decay_fraction
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * cosine)


def validation_late(c: TrainConfig, p: Progress) -> bool:
    """--eval-minutes of training have passed since the last validation."""
    return bool(c.eval_minutes) and p.elapsed - p.last_eval_elapsed >= c.eval_minutes * 60


def over_eval_share(c: TrainConfig, p: Progress) -> bool:
    """The next check, costing what the last one did, would take validation past
    --eval-share of the wall time. Room is kept for one more: the check of the last weights
    when the run stops."""
    if not c.eval_share:
        return False
    spent = p.eval_s + 2 * p.last_eval_s
    return spent > c.eval_share * (p.elapsed + spent)


def record_validation(c: TrainConfig, p: Progress, row: dict, averaging: bool) -> tuple[bool, bool]:
    """A validation's consequences for the progress (history, best, SGD's lr decay on a
    check without improvement). Returns whether it is the best yet (its weights are to be
    kept) and whether NT-ASGD should start averaging now."""
    ppl = row["valid_ppl"]
    earlier = [h["valid_ppl"] for h in p.history if h["valid_ppl"] is not None]
    p.history.append({k: row[k] for k in ("step", "tokens", "wall", "eval_s", "valid_ppl")})
    p.last_eval_step, p.last_eval_elapsed = p.step, p.elapsed
    best = ppl is not None and (p.best_valid is None or ppl < p.best_valid)
    if best:
        p.best_valid, p.bad_evals = ppl, 0
    else:
        p.bad_evals += 1
        if c.optimizer == "sgd" and not c.decay_after_epoch:
            p.sgd_lr /= c.lr_decay
    average = (
        c.optimizer == "ntasgd"
        and not averaging
        and ppl is not None
        and should_start_averaging(earlier, ppl, c.asgd_nonmono)
    )
    return best, average


def decay_after_epoch(c: TrainConfig, p: Progress) -> None:
    """SGD with --decay-after-epoch: the lr drops at the end of each epoch from then on."""
    if c.optimizer == "sgd" and c.decay_after_epoch and p.epoch >= c.decay_after_epoch:
        p.sgd_lr /= c.lr_decay


def local_stop(c: TrainConfig, p: Progress, interrupted: bool) -> Stop:
    """Why this process would stop after the step just taken (Stop.NONE: it would not)."""
    if interrupted:
        return Stop.INTERRUPTED
    if c.max_steps and p.step >= c.max_steps:
        return Stop.MAX_STEPS
    if c.max_tokens and p.tokens >= c.max_tokens:
        return Stop.MAX_TOKENS
    if c.max_minutes and p.budget_spent(c.budget_includes_eval) >= c.max_minutes * 60:
        return Stop.BUDGET
    if c.patience and p.bad_evals >= c.patience:
        return Stop.EARLY_STOP
    return Stop.NONE
