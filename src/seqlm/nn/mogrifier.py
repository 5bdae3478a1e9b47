"""The Mogrifier LSTM (Melis et al. 2020): input and state gate each other before the LSTM.

Before each LSTM step the input x and the previous hidden state h modulate each other for
r rounds, alternately (x^{−1} = x_t, h^0 = h_{t−1}; σ the logistic sigmoid):

    odd i:   x^i = 2σ(Q^i h^{i−1}) ⊙ x^{i−2}
    even i:  h^i = 2σ(R^i x^{i−1}) ⊙ h^{i−2}

and the ordinary LSTM step (`seqlm.nn.cells`) then reads the last x and h of the rounds
(its cell state c_{t−1} is untouched). The factor 2σ(·) lies in (0, 2), so each round can
scale a coordinate up or down: the context decides which features of the word matter,
and the word which parts of the context. Q^i: (input, hidden), R^i: (hidden, input), full
rank, no bias. Since x^i depends on h_{t−1}, W_ih x cannot be computed for all steps at
once and no fused kernel exists: the layer is a Python loop over time on either backend.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqlm.nn.cells import RecurrentCell, layer_result
from seqlm.nn.regularize import drop_weights


class MogrifierLayer(nn.Module):
    def __init__(
        self, input_size: int, hidden_size: int, rounds: int = 5, weight_drop: float = 0.0
    ):
        super().__init__()
        self.cell = RecurrentCell("lstm", input_size, hidden_size)
        self.rounds, self.weight_drop = rounds, weight_drop
        bound = 1 / math.sqrt(hidden_size)
        self.mogrify_weights = nn.ParameterDict()
        for i in range(1, rounds + 1):
            shape = (input_size, hidden_size) if i % 2 else (hidden_size, input_size)
            self.mogrify_weights[f"{'q' if i % 2 else 'r'}{i}"] = nn.Parameter(
                torch.empty(shape).uniform_(-bound, bound)
            )

    def mogrify(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """(B, input), (B, hidden) -> the last x and h of the rounds above."""
        for i in range(1, self.rounds + 1):
            if i % 2:
                x = 2 * torch.sigmoid(h @ self.mogrify_weights[f"q{i}"].t()) * x
            else:
                h = 2 * torch.sigmoid(x @ self.mogrify_weights[f"r{i}"].t()) * h
        return x, h

    def forward(self, x: Tensor, state=None, return_gates: bool = False):
        """x: (T, B, input) -> outputs (T, B, hidden), final (h, c)[, gates]."""
        cell = self.cell
        if state is None:
            state = cell.initial_state(x.shape[1], x)
        w_hh = None
        if self.training and self.weight_drop > 0:
            w_hh = drop_weights(cell.weight_hh, self.weight_drop)
        outputs, recorded = [], []
        for t in range(x.shape[0]):
            x_t, h_prev = self.mogrify(x[t], state[0])
            x_proj = torch.addmm(cell.bias_ih, x_t, cell.weight_ih.t())
            h, state, activations = cell.step(x_proj, (h_prev, state[1]), w_hh)
            outputs.append(h)
            if return_gates:
                recorded.append(activations)
        return layer_result(outputs, state, recorded if return_gates else None)

    @property
    def weights(self) -> dict[str, Tensor]:
        return {**self.cell.weights, **{f"mogrify_{k}": v for k, v in self.mogrify_weights.items()}}
