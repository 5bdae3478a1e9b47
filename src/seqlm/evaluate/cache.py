"""Neural cache (Grave et al. 2017): a pointer distribution over the recent hidden states.

The recurrent model's top-layer output h_t predicts w_t. The cache remembers the last W
pairs (h_i, w_i) and points back at them:

    p_cache(w | h_t) = Σ_{i ∈ [t−W, t−1], w_i = w} exp(θ h_t·h_i) / Σ_{i ∈ [t−W, t−1]} exp(θ h_t·h_i)
    p(w | h_t)       = (1 − λ) p_model(w | h_t) + λ p_cache(w | h_t)

θ sets how flat the pointer is, λ how much it is trusted; both are chosen on validation.
Words seen recently (names, topics) get probability the softmax's slow weights cannot
give them. Nothing is trained: it is a way of *evaluating* a trained model. With an empty
memory (the first token) the model's distribution is used alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from seqlm.interface import LanguageModel


@torch.inference_mode()
def score_with_features(model, ids: np.ndarray, window: int = 1024) -> tuple[np.ndarray, Tensor]:
    """ln P_model of every token (one stream, state carried: `model.log_probs`) and the
    top-layer output h_t that predicted each token, (T, d)."""
    was_training = model.training
    model.eval()
    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=model.device)
    inputs = torch.cat([ids_t.new_full((1,), model.start_token), ids_t[:-1]])[:, None]
    log_probs, hiddens, state = [], [], None
    for start in range(0, len(ids_t), window):
        x, state = model.features(inputs[start : start + window], state)
        log_probs.append(model.target_log_probs(x, ids_t[start : start + window, None])[:, 0])
        hiddens.append(x[:, 0].float())
    model.train(was_training)
    if not log_probs:
        return np.zeros(0), torch.zeros(0, 1)
    return torch.cat(log_probs).double().cpu().numpy(), torch.cat(hiddens).cpu()


def cache_log_probs(
    hiddens: Tensor, ids: np.ndarray, window: int, thetas: list[float], chunk: int = 512
) -> np.ndarray:
    """ln p_cache(w_t | h_t) for every t and every θ: (len(thetas), T); −inf where the
    word is not in the memory, NaN where the memory is empty (t = 0)."""
    hiddens = hiddens.double()
    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    n = len(ids_t)
    out = np.full((len(thetas), n), np.nan)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        lo = max(0, s - window)
        keys, values = hiddens[lo : e - 1], ids_t[lo : e - 1]  # memory for positions s..e-1
        if len(keys) == 0:
            continue
        t = torch.arange(s, e)[:, None]
        a = torch.arange(lo, e - 1)[None, :]
        valid = (a < t) & (a >= t - window)  # (C, K): the last W positions before t
        match = valid & (values[None, :] == ids_t[s:e, None])
        dots = hiddens[s:e] @ keys.T
        for k, theta in enumerate(thetas):
            scores = theta * dots
            total = torch.logsumexp(scores.masked_fill(~valid, -math.inf), dim=1)
            hit = torch.logsumexp(scores.masked_fill(~match, -math.inf), dim=1)
            out[k, s:e] = (hit - total).numpy()
    return out


def mix(log_p: np.ndarray, log_q: np.ndarray, weight: float) -> np.ndarray:
    """ln((1 − w) p + w q), elementwise; where q is NaN (undefined) p alone."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mixed = np.logaddexp(np.log1p(-weight) + log_p, np.log(weight) + log_q)
    if weight == 0:
        mixed = np.asarray(log_p, dtype=np.float64).copy()
    return np.where(np.isnan(log_q), log_p, mixed)


def cached_log_probs(
    log_probs: np.ndarray, hiddens: Tensor, ids: np.ndarray, window: int, theta: float, lam: float
) -> np.ndarray:
    """The cache model's ln P of every token, from the base model's scores and features."""
    return mix(log_probs, cache_log_probs(hiddens, ids, window, [theta])[0], lam)


@dataclass
class CacheState:
    inner: object  # the base model's state
    keys: list = field(default_factory=list)  # h_i, most recent last
    values: list = field(default_factory=list)  # w_i


class CachedLM(LanguageModel):
    """A recurrent model with a neural cache, answering the whole `LanguageModel`
    interface (full next-token distributions for generation, streams for scoring)."""

    def __init__(self, model, window: int, theta: float, lam: float):
        self.model, self.window, self.theta, self.lam = model, window, theta, lam
        self.vocab, self.kind = model.vocab, f"{model.kind}+cache"

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        lp, hiddens = score_with_features(self.model, ids)
        return cached_log_probs(lp, hiddens, ids, self.window, self.theta, self.lam)

    def _top_output(self, inner) -> Tensor:
        hidden = self.model._step(inner)[0]  # the state after reading the pending token
        return self.model.flatten_state(hidden)[-self.model.state_parts][0]  # h_t

    def start(self, prompt: np.ndarray | None = None) -> CacheState:
        state = CacheState(self.model.start())
        for token in [] if prompt is None else np.asarray(prompt).tolist():
            state = self.advance(state, int(token))
        return state

    def context_state(self, window: np.ndarray) -> CacheState:
        window = np.asarray(window, dtype=np.int64)
        state = CacheState(
            self.model.context_state(window[:1]) if len(window) else self.model.start()
        )
        for token in window[1:].tolist():
            state = self.advance(state, int(token))
        return state

    def next_log_probs(self, state: CacheState) -> np.ndarray:
        log_p = self.model.next_log_probs(state.inner)
        if not state.keys:
            return log_p
        h = self._top_output(state.inner).double()
        weights = torch.softmax(self.theta * (torch.stack(state.keys).double() @ h), dim=0)
        cache = np.bincount(state.values, weights=weights.cpu().numpy(), minlength=len(log_p))
        with np.errstate(divide="ignore"):
            return mix(log_p, np.log(cache), self.lam)

    def advance(self, state: CacheState, token: int) -> CacheState:
        keys = (state.keys + [self._top_output(state.inner).cpu()])[-self.window :]
        values = (state.values + [int(token)])[-self.window :]
        return CacheState(self.model.advance(state.inner, token), keys, values)

    def num_parameters(self) -> int:
        return self.model.num_parameters()
