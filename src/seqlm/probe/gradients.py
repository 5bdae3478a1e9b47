"""Gradient flow: how much does the loss at step t still feel the state k steps back?

For windows of real text, the loss at the last step T is backpropagated and the norm of
∂loss_T/∂h_{T−k} (top-layer hidden state), ∂loss_T/∂C_{T−k} (LSTM cell state) and
∂loss_T/∂x_{T−k} (input embedding) is read for k = 0..K, averaged over windows. A plain
RNN multiplies by W_hh·diag(tanh') at every step back, so its curve falls geometrically
(Bengio et al. 1994; Pascanu et al. 2013); the LSTM's cell state is carried additively,
scaled only by the forget gate, so its curve falls far slower. The decay rate is the
slope of a straight-line fit to log10 of the norm against k.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqlm.interface import LanguageModel
from seqlm.nn.layers import evaluating
from seqlm.nn.recurrent import RecurrentLM


def reference_copy(model: RecurrentLM) -> RecurrentLM:
    """The same weights on the readable backend, whose every step is a graph node."""
    if model.backend == "reference":
        return model
    copy = RecurrentLM(model.config, model.vocab, "reference").to(model.device)
    copy.load_canonical({k: v.detach() for k, v in model.canonical_state().items()})
    return copy


def gradient_flow(
    model: LanguageModel, ids: np.ndarray, distance: int = 50, windows: int = 32, seed: int = 0
) -> dict:
    """Mean gradient norms by distance k = 0..`distance` over `windows` windows of `ids`.
    A recurrent model also gives its hidden (and cell) state's curves; any other neural
    model (the Transformer, which has no state carried step to step) its input's."""
    batch = _windows(ids, distance + 1, windows, seed, model.device)
    if not isinstance(model, RecurrentLM):
        with evaluating(model):
            return _input_flow(model, batch)
    ref = reference_copy(model)
    with evaluating(ref):
        return _gradient_flow(ref, batch)


def _windows(ids, length: int, windows: int, seed: int, device) -> Tensor:
    """`windows` random windows of `length` + 1 tokens (the last is the target), (T, B)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < length + 1:
        raise ValueError("text shorter than the probed distance")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - length - 1, windows)
    return torch.as_tensor(np.stack([ids[s : s + length + 1] for s in starts]).T, device=device)


def _input_flow(model, batch: Tensor) -> dict:
    """‖∂loss_T/∂x_{T−k}‖ through the model's own forward pass: the first block's input
    (token plus position embedding: the sum's gradient is the token embedding's) is made a
    leaf the gradient stops at (a pre-hook), whatever the blocks do with it."""
    inputs, target, length = batch[:-1], batch[-1], batch.shape[0] - 1
    seen: list[Tensor] = []

    def keep(module, args):
        x = args[0].detach().requires_grad_(True)
        seen.append(x)
        return (x, *args[1:])

    hook = model.blocks[0].register_forward_pre_hook(keep)
    try:
        with torch.enable_grad():
            x, _ = model.features(inputs)
            loss = F.nll_loss(model.log_softmax(x[-1:])[0], target, reduction="sum")
            (grad,) = torch.autograd.grad(loss, seen)
    finally:
        hook.remove()
    grad = grad if grad.shape[0] == length else grad.transpose(0, 1)  # to (T, B, d)
    norms = [grad[length - 1 - k].norm(dim=-1).mean().item() for k in range(length)]
    return {
        "kind": model.kind,
        "distance": list(range(length)),
        "input": norms,
        "input_decay_per_step": decay_rate(norms),
    }


def _gradient_flow(ref: RecurrentLM, batch: Tensor) -> dict:
    inputs, target = batch[:-1], batch[-1]
    length = inputs.shape[0]
    x = ref.embedding(inputs).detach().requires_grad_(True)
    layer_input, hiddens, cells = x, [], []
    for layer in ref.layers:
        cell, weights = layer.cell, layer.weights
        state = cell.zero_state(inputs.shape[1], x)
        x_proj = cell.project_inputs(layer_input, weights)
        hiddens, cells = [], []
        for t in range(length):
            h, state, _ = cell.step(x_proj[t], state, weights)
            hiddens.append(h)
            if cell.state_parts > 1:  # (h, c): the cell state too
                cells.append(state[1])
        layer_input = torch.stack(hiddens)
    log_probs = ref.log_softmax(hiddens[-1][None])[0]
    loss = F.nll_loss(log_probs, target, reduction="sum")
    wrt = [x, *hiddens, *cells]
    # a cell whose recurrence skips h_{t−1} (mLSTM: its memory is C) leaves the earlier
    # h_t unused: no hidden curve then, its memory's and its input's instead
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)

    def per_window(g: Tensor | None) -> float:  # mean over windows of the norm
        return 0.0 if g is None else g.flatten(1).norm(dim=-1).mean().item()

    g_x = grads[0]
    result = {
        "kind": ref.kind,
        "distance": list(range(length)),
        "input": [per_window(g_x[length - 1 - k]) for k in range(length)],
    }
    if all(g is not None for g in grads[1 : length + 1]):
        result["hidden"] = [per_window(grads[1 + length - 1 - k]) for k in range(length)]
    if cells:
        result["cell"] = [per_window(grads[1 + length + length - 1 - k]) for k in range(length)]
    for key in ("hidden", "input", "cell"):
        if key in result:
            result[f"{key}_decay_per_step"] = decay_rate(result[key])
    return result


def decay_rate(norms: list[float]) -> float:
    """Slope of log10(norm) against distance (orders of magnitude lost per step back)."""
    values = np.asarray(norms, dtype=np.float64)
    keep = values > 0
    if keep.sum() < 2:
        return float("nan")
    k = np.arange(len(values))[keep]
    return float(np.polyfit(k, np.log10(values[keep]), 1)[0])
