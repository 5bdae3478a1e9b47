"""The Mogrifier LSTM (Melis et al. 2020): input and state gate each other before the LSTM.

Since x^i depends on h_{t−1}, W_ih x cannot be computed for all steps at once and no
fused kernel exists: the layer runs the reference loop over time on either backend.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlm.nn.cells import LSTMCell, State, Step, project


class MogrifierCell(LSTMCell):
    kernel = step_kernel = None  # reference only

    def __init__(self, input_size: int, hidden_size: int, rounds: int = 5):
        self.rounds = rounds  # read by make_parameters, inside the base's __init__
        super().__init__(input_size, hidden_size)

    @classmethod
    def from_config(cls, input_size: int, hidden_size: int, config=None) -> MogrifierCell:
        return cls(input_size, hidden_size, 5 if config is None else config.mogrifier_rounds)

    def make_parameters(self) -> None:
        """The LSTM's, then Q^i: (input, hidden) for odd i, R^i: (hidden, input) for even
        i; full rank, no bias."""
        super().make_parameters()
        inputs, hidden = self.sizes
        self.mogrify_weights = nn.ParameterDict()
        for i in range(1, self.rounds + 1):
            shape = (inputs, hidden) if i % 2 else (hidden, inputs)
            self.mogrify_weights[f"{'q' if i % 2 else 'r'}{i}"] = nn.Parameter(torch.empty(shape))

    @property
    def weights(self) -> dict[str, Tensor]:
        """The checkpoint names: the LSTM's, then mogrify_q1, mogrify_r2, ..."""
        return {
            name.replace("mogrify_weights.", "mogrify_"): p for name, p in super().weights.items()
        }

    def mogrify(self, x: Tensor, h: Tensor, weights: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Before each LSTM step x and the previous h modulate each other for r rounds,
        alternately (x^{−1} = x_t, h^0 = h_{t−1}):
            odd i:   x^i = 2σ(Q^i h^{i−1}) ⊙ x^{i−2}
            even i:  h^i = 2σ(R^i x^{i−1}) ⊙ h^{i−2}
        The factor 2σ(·) lies in (0, 2), so each round can scale a coordinate up or down:
        the context decides which features of the word matter, and the word which parts
        of the context. (B, input), (B, hidden) -> the last x and h of the rounds."""
        for i in range(1, self.rounds + 1):
            if i % 2:
                x = 2 * torch.sigmoid(project(h, weights[f"mogrify_q{i}"])) * x
            else:
                h = 2 * torch.sigmoid(project(x, weights[f"mogrify_r{i}"])) * h
        return x, h

    def project_inputs(self, x: Tensor, weights: dict[str, Tensor]) -> Tensor:
        return x  # the projection waits for the rounds, in `step`

    def step(self, x_t: Tensor, state: State, weights: dict[str, Tensor]) -> Step:
        """The rounds, then the LSTM step on their last x and h (c_{t−1} untouched)."""
        x_t, h_prev = self.mogrify(x_t, state[0], weights)
        x_proj = project(x_t, weights["weight_ih"], weights["bias_ih"])
        return super().step(x_proj, (h_prev, state[1]), weights)
