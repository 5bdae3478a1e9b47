"""Sampling from any model through its incremental interface (no prefix recomputation).

temperature 0 is greedy; top-k keeps the k most likely tokens; top-p keeps the smallest
set whose probability reaches p (nucleus sampling, Holtzman et al. 2020).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from seqlm.errors import SeqlmError
from seqlm.lm import LanguageModel


def filter_log_probs(
    log_probs: np.ndarray, temperature: float, top_k: int | None, top_p: float | None
) -> np.ndarray:
    """Probabilities to sample from (a copy; sums to 1)."""
    logits = np.asarray(log_probs, dtype=np.float64) / temperature
    if top_k is not None and top_k < len(logits):
        cut = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits >= cut, logits, -np.inf)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        keep = np.cumsum(probs[order]) - probs[order] < top_p
        mask = np.zeros_like(probs, dtype=bool)
        mask[order[keep]] = True
        probs = np.where(mask, probs, 0.0)
        probs /= probs.sum()
    return probs


def sample(
    model: LanguageModel,
    prompt: np.ndarray | None = None,
    max_tokens: int = 50,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_at: int | None = None,
) -> Iterator[int]:
    """Yield generated token ids one at a time."""
    if not (math.isfinite(temperature) and temperature >= 0):
        raise SeqlmError(f"temperature must be a finite number >= 0, got {temperature}")
    if seed is not None and seed < 0:
        raise SeqlmError(f"seed must be >= 0, got {seed}")
    if max_tokens < 0:
        raise SeqlmError(f"max tokens must be >= 0, got {max_tokens}")
    if top_k is not None and top_k < 1:
        raise SeqlmError("top-k must be >= 1")
    if top_p is not None and not 0 < top_p <= 1:
        raise SeqlmError("top-p must be in (0, 1]")
    rng = np.random.default_rng(seed)
    state = model.start(prompt)
    vocab = model.vocab
    # never emit the unknown-word placeholder of a vocabulary that never saw it in training
    hide_unk = not vocab.counts[vocab.unk_id]
    for _ in range(max_tokens):
        log_probs = model.next_log_probs(state)
        if hide_unk:
            log_probs = log_probs.copy()
            log_probs[vocab.unk_id] = -np.inf
        if temperature == 0:
            token = int(np.argmax(log_probs))
        else:
            probs = filter_log_probs(log_probs, temperature, top_k, top_p)
            token = int(rng.choice(len(probs), p=probs))
        yield token
        if stop_at is not None and token == stop_at:
            return
        state = model.advance(state, token)
