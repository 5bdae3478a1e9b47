"""Recurrent cells written as their equations read: one class per kind.

Shapes: B sequences in a batch, D inputs, H hidden units; σ is the logistic sigmoid, ⊙ the
elementwise product, and each gate has its own weights and bias. Every cell keeps its
gates' weights stacked in the layout of `torch.nn.RNN/LSTM/GRU` (`weight_ih`, `weight_hh`,
`bias_ih`, `bias_hh`; rows in the order of `gates`), so one set of parameters serves both
this readable code and torch's fused kernels (oneDNN, cuDNN), and checkpoints hold the
same names whichever runs. Every gate is also reachable by name, e.g.
``cell.forget_gate.bias`` (the sum of torch's two biases, which the equations write as
one) or ``cell.forget_gate.weight_hidden``; these are views, so setting them sets the
stacked parameters.

A cell is: its `gates`, its state (`state_parts` tensors of shape (B, H); the first is
h_t), `cell_update` (the equations, given both projections) and optionally `kernel` /
`step_kernel`, the torch functions that compute the same thing fused (None: the cell
runs on the reference loop only). A new cell is one subclass and one line in
`seqlm.nn.layers.CELL_TYPES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

State = Tensor | tuple[Tensor, ...]
Step = tuple[Tensor, State, dict[str, Tensor]]  # h_t, the new state, named activations


def project(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x Wᵀ + b. With a low-precision copy of W (bf16 generation) only the product runs
    in W's dtype; the result and the bias stay in x's."""
    if weight.dtype != x.dtype:
        out = F.linear(x.to(weight.dtype), weight).to(x.dtype)
        return out if bias is None else out + bias
    return x @ weight.t() if bias is None else torch.addmm(bias, x, weight.t())


@dataclass
class Gate:
    """Views of one gate's rows in the stacked parameters."""

    weight_input: Tensor  # W_x: (hidden, input)
    weight_hidden: Tensor  # W_h: (hidden, hidden)
    bias_input: Tensor
    bias_hidden: Tensor

    @property
    def weight(self) -> Tensor:
        """W of the equations, acting on [h_{t-1}, x_t] (a copy)."""
        return torch.cat([self.weight_hidden, self.weight_input], dim=1)

    @property
    def bias(self) -> Tensor:
        return self.bias_input + self.bias_hidden

    @bias.setter
    def bias(self, value: float | Tensor) -> None:
        with torch.no_grad():
            self.bias_input.copy_(torch.as_tensor(value).expand_as(self.bias_input))
            self.bias_hidden.zero_()


class RecurrentCell(nn.Module):
    """The interface every cell implements, and what they share: the stacked parameters,
    the named gate views, the zero state, the initialisation and the step."""

    gates: ClassVar[tuple[str, ...]]
    state_parts: ClassVar[int] = 1  # tensors in the state, each (B, H); the first is h_t
    kernel: ClassVar[type[nn.RNNBase] | None] = None  # fused sequence kernel; None: none
    step_kernel: ClassVar[Callable | None] = None  # fused single step (generation)
    # a cell whose recurrence has a parallel form (a scan over time) overrides `parallel`
    # with it: (x (T, B, D), state, weights) -> (outputs (T, B, H), final state)
    parallel: ClassVar[Callable | None] = None

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.make_parameters()
        self.reset_parameters()

    def make_parameters(self) -> None:
        """The stacked gate parameters; a cell with more adds them after these."""
        rows, (inputs, hidden) = len(self.gates) * self.hidden_size, self.sizes
        self.weight_ih = nn.Parameter(torch.empty(rows, inputs))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))

    @property
    def sizes(self) -> tuple[int, int]:
        return self.input_size, self.hidden_size

    @classmethod
    def from_config(cls, input_size: int, hidden_size: int, config=None) -> RecurrentCell:
        """The cell for a `ModelConfig` (a cell with settings of its own reads them here)."""
        return cls(input_size, hidden_size)

    def reset_parameters(
        self, generator: torch.Generator | None = None, forget_bias: float | None = None
    ) -> None:
        """The one initialisation: every parameter U(−1/√H, 1/√H), drawn in declaration
        order from `generator` (None: torch's global one; torch.nn.LSTM's default). Given
        `forget_bias` (a seeded model), the biases are then zero and a forget gate's is
        `forget_bias` (Jozefowicz et al. 2015); the draws are the same either way."""
        bound = 1 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for name, p in self.named_parameters():
                values = (torch.rand(p.shape, generator=generator) * 2 - 1) * bound
                if forget_bias is not None and name.startswith("bias"):
                    values = torch.zeros(p.shape)
                p.copy_(values)
            if forget_bias is not None and "forget_gate" in self.gates:
                self.forget_gate.bias = forget_bias

    @property
    def weights(self) -> dict[str, Tensor]:
        """The parameters under their checkpoint names (torch.nn's, without `_l0`)."""
        return dict(self.named_parameters())

    def gate(self, name: str) -> Gate:
        k = self.gates.index(name)
        rows = slice(k * self.hidden_size, (k + 1) * self.hidden_size)
        return Gate(
            self.weight_ih[rows], self.weight_hh[rows], self.bias_ih[rows], self.bias_hh[rows]
        )

    def __getattr__(self, name: str):
        if name in type(self).gates:
            return self.gate(name)
        return super().__getattr__(name)

    # -- the state --------------------------------------------------------------------------
    def zero_state(self, batch: int, like: Tensor) -> State:
        """The state every sequence starts from: zeros in `like`'s dtype and device."""
        parts = tuple(like.new_zeros(batch, self.hidden_size) for _ in range(self.state_parts))
        return parts if self.state_parts > 1 else parts[0]

    def hidden(self, state: State) -> Tensor:
        """h_t, what the next layer reads."""
        return state[0] if self.state_parts > 1 else state

    # -- one step ---------------------------------------------------------------------------
    def project_inputs(self, x: Tensor, weights: dict[str, Tensor]) -> Tensor:
        """x (T, B, D) -> W_ih x_t + b_ih for all steps at once (T, B, rows)."""
        flat = project(x.reshape(-1, x.shape[-1]), weights["weight_ih"], weights["bias_ih"])
        return flat.view(x.shape[0], x.shape[1], -1)

    def step(self, x_proj: Tensor, state: State, weights: dict[str, Tensor]) -> Step:
        """One time step from `project_inputs`' row t; `weights`: `self.weights`, or a copy
        with some replaced (a weight-dropped W_hh, bf16 matrices)."""
        h_proj = project(self.hidden(state), weights["weight_hh"], weights["bias_hh"])
        return self.cell_update(x_proj, h_proj, state)

    def cell_update(self, x_proj: Tensor, h_proj: Tensor, state: State) -> Step:
        """The equations, given W_ih x_t + b_ih and W_hh h_{t−1} + b_hh, each (B, rows)."""
        raise NotImplementedError


class ElmanCell(RecurrentCell):
    gates = ("hidden",)
    kernel, step_kernel = nn.RNN, torch.rnn_tanh_cell

    def cell_update(self, x_proj: Tensor, h_proj: Tensor, state: State) -> Step:
        """Elman RNN:
        h_t = tanh(W_x x_t + b_x + W_h h_{t−1} + b_h)"""
        h = torch.tanh(x_proj + h_proj)
        return h, h, {}


class LSTMCell(RecurrentCell):
    gates = ("input_gate", "forget_gate", "candidate", "output_gate")
    state_parts = 2  # (h_t, c_t)
    kernel, step_kernel = nn.LSTM, torch.lstm_cell

    def cell_update(self, x_proj: Tensor, h_proj: Tensor, state: State) -> Step:
        """LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000):
        i_t = σ(W_xi x_t + b_xi + W_hi h_{t−1} + b_hi)       input gate: how much to write
        f_t = σ(W_xf x_t + b_xf + W_hf h_{t−1} + b_hf)       forget gate: how much to keep
        g_t = tanh(W_xg x_t + b_xg + W_hg h_{t−1} + b_hg)    candidate values
        o_t = σ(W_xo x_t + b_xo + W_ho h_{t−1} + b_ho)       output gate: how much to show
        c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t                      cell state: the additive path
        h_t = o_t ⊙ tanh(c_t)
        Because c_t is a sum, ∂c_t/∂c_{t−1} = f_t: with the forget gate open the gradient
        passes back unchanged, where the RNN's is multiplied by W_h and tanh' at every
        step and vanishes."""
        i, f, g, o = (x_proj + h_proj).chunk(4, dim=1)  # each (B, H)
        input_gate = torch.sigmoid(i)
        forget_gate = torch.sigmoid(f)
        candidate = torch.tanh(g)
        output_gate = torch.sigmoid(o)
        cell_state = forget_gate * state[1] + input_gate * candidate  # the additive path
        h = output_gate * torch.tanh(cell_state)
        activations = {
            "input_gate": input_gate,
            "forget_gate": forget_gate,
            "candidate": candidate,
            "output_gate": output_gate,
            "cell_state": cell_state,
        }
        return h, (h, cell_state), activations


class GRUCell(RecurrentCell):
    gates = ("reset_gate", "update_gate", "candidate")
    kernel, step_kernel = nn.GRU, torch.gru_cell

    def cell_update(self, x_proj: Tensor, h_proj: Tensor, state: State) -> Step:
        """GRU, in the convention of cuDNN and torch (so both backends compute the same):
        r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)       reset gate
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)       update gate (fraction kept)
        h̃_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))
        h_t = (1 − z_t) ⊙ h̃_t + z_t ⊙ h_{t−1}
        Cho et al. (2014) apply r_t before W_hn and call 1 − z_t the update gate."""
        xr, xz, xn = x_proj.chunk(3, dim=1)  # each (B, H)
        hr, hz, hn = h_proj.chunk(3, dim=1)
        reset_gate = torch.sigmoid(xr + hr)
        update_gate = torch.sigmoid(xz + hz)
        candidate = torch.tanh(xn + reset_gate * hn)
        h = (1 - update_gate) * candidate + update_gate * state
        return h, h, {"reset_gate": reset_gate, "update_gate": update_gate, "candidate": candidate}
