"""Dynamic evaluation (Krause et al. 2018): the model keeps learning while it is scored.

The text is read in segments of `segment` tokens, in order, with the state carried. Each
segment is first *scored* with the current weights (those numbers are the result), and
only then does the model take one gradient step on that segment's loss, so every token is
predicted before the model has trained on it. Each step also pulls the weights back
toward the trained ones, θ ← θ + decay·(θ₀ − θ), so the adaptation stays local:

    sgd:  θ ← θ − lr·∇ + decay·(θ₀ − θ)
    rms:  θ ← θ − lr·∇ / (√(MS) + ε) + decay·(θ₀ − θ),  MS a running mean of ∇²

Krause et al. estimate MS on training data; here it is the running mean over the segments
already scored (RMSprop), which needs no training data at evaluation time. Dropout is off
throughout; the caller's model is not modified (a copy adapts).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from seqlm.io import SeqlmError

METHODS = ("sgd", "rms")


def _adaptable_copy(model):
    """A copy in training mode (cuDNN's backward needs it) with every dropout off."""
    clone = copy.deepcopy(model)
    clone.config = replace(
        clone.config,
        dropout=0.0,
        dropout_embed=0.0,
        dropout_between=0.0,
        dropout_words=0.0,
        weight_drop=0.0,
        ar=0.0,
        tar=0.0,
    )
    for layer in clone.layers:
        layer.weight_drop = 0.0
    return clone.train()


def dynamic_log_probs(
    model,
    ids: np.ndarray,
    method: str = "sgd",
    lr: float = 0.01,
    decay: float = 0.0,
    segment: int = 20,
    return_features: bool = False,
) -> np.ndarray | tuple[np.ndarray, Tensor]:
    """ln P of every token under dynamic evaluation (and, if asked, the top-layer output
    that predicted each token, for a cache on top)."""
    if method not in METHODS:
        raise SeqlmError(f"unknown dynamic evaluation method {method!r} (sgd, rms)")
    net = _adaptable_copy(model)
    params = [p for p in net.parameters() if p.requires_grad]
    trained = [p.detach().clone() for p in params]
    mean_square = [torch.zeros_like(p) for p in params]
    ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=net.device)
    inputs = torch.cat([ids_t.new_full((1,), net.start_token), ids_t[:-1]])[:, None]
    out, features, state = [], [], None
    for step, start in enumerate(range(0, len(ids_t), segment), 1):
        x, state = net.features(inputs[start : start + segment], state)
        log_p = net.target_log_probs(x, ids_t[start : start + segment, None])[:, 0]
        out.append(log_p.detach().double().cpu())  # scored before any step on it
        if return_features:
            features.append(x[:, 0].detach().float().cpu())
        grads = torch.autograd.grad(-log_p.mean(), params, allow_unused=True)
        with torch.no_grad():
            for p, g, p0, ms in zip(params, grads, trained, mean_square, strict=True):
                if g is not None:
                    if method == "rms":
                        ms.mul_(0.99).addcmul_(g, g, value=0.01)
                        g = g / ((ms / (1 - 0.99**step)).sqrt() + 1e-6)
                    p.sub_(lr * g)
                if decay:
                    p.add_(p0 - p, alpha=decay)
        state = net.detach_state(state)
    log_probs = torch.cat(out).numpy() if out else np.zeros(0)
    if return_features:
        return log_probs, (torch.cat(features) if features else torch.zeros(0, 1))
    return log_probs
