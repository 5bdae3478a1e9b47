"""Recurrent cells written as their equations read.

Shapes: B sequences in a batch, D inputs, H hidden units; σ is the logistic sigmoid, ⊙ the
elementwise product, and each gate has its own weights and bias.

Elman RNN:
    h_t = tanh(W_x x_t + b_x + W_h h_{t−1} + b_h)

LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000):
    i_t = σ(W_xi x_t + b_xi + W_hi h_{t−1} + b_hi)          input gate: how much to write
    f_t = σ(W_xf x_t + b_xf + W_hf h_{t−1} + b_hf)          forget gate: how much to keep
    g_t = tanh(W_xg x_t + b_xg + W_hg h_{t−1} + b_hg)       candidate values
    o_t = σ(W_xo x_t + b_xo + W_ho h_{t−1} + b_ho)          output gate: how much to show
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t                         cell state: the additive path
    h_t = o_t ⊙ tanh(c_t)
Because c_t is a sum, ∂c_t/∂c_{t−1} = f_t: with the forget gate open the gradient passes
back unchanged, where the RNN's is multiplied by W_h and tanh' at every step and vanishes.

GRU, in the convention of cuDNN and torch (so both backends compute the same function):
    r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)          reset gate
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)          update gate (fraction kept)
    h̃_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))
    h_t = (1 − z_t) ⊙ h̃_t + z_t ⊙ h_{t−1}
Cho et al. (2014) apply r_t before W_hn and call 1 − z_t the update gate.

Each cell keeps its gates' weights stacked in the layout of `torch.nn.RNN/LSTM/GRU`
(`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`; LSTM rows in gate order input, forget,
candidate, output; GRU rows reset, update, candidate), so one set of parameters serves
both this readable backend and the fused kernels (oneDNN, cuDNN). Every gate is also
reachable by name, e.g. ``cell.forget_gate.bias`` (the sum of torch's two biases, which
the equations write as one) or ``cell.forget_gate.weight_hidden``; these are views, so
setting them sets the stacked parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import _VF, Tensor, nn

from seqlm.nn.regularize import drop_weights

GATES = {
    "rnn": ("hidden",),
    "lstm": ("input_gate", "forget_gate", "candidate", "output_gate"),
    "gru": ("reset_gate", "update_gate", "candidate"),
}


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
    """Parameters and one time step of an Elman RNN, LSTM or GRU cell."""

    def __init__(self, kind: str, input_size: int, hidden_size: int):
        super().__init__()
        self.kind, self.input_size, self.hidden_size = kind, input_size, hidden_size
        rows = len(GATES[kind]) * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def weights(self) -> dict[str, Tensor]:
        """The stacked parameters under torch.nn's names: the checkpoint layout."""
        return {
            "weight_ih": self.weight_ih,
            "weight_hh": self.weight_hh,
            "bias_ih": self.bias_ih,
            "bias_hh": self.bias_hh,
        }

    def gate(self, name: str) -> Gate:
        k = GATES[self.kind].index(name)
        rows = slice(k * self.hidden_size, (k + 1) * self.hidden_size)
        return Gate(
            self.weight_ih[rows], self.weight_hh[rows], self.bias_ih[rows], self.bias_hh[rows]
        )

    def __getattr__(self, name: str):
        if name in GATES.get(self.__dict__.get("kind", ""), ()):
            return self.gate(name)
        return super().__getattr__(name)

    def initial_state(self, batch: int, like: Tensor):
        h = like.new_zeros(batch, self.hidden_size)
        return (h, h.clone()) if self.kind == "lstm" else h

    def step(
        self, x_proj: Tensor, state, weight_hh: Tensor | None = None
    ) -> tuple[Tensor, object, dict[str, Tensor]]:
        """One time step; `x_proj` (B, rows) = W_ih x_t + b_ih, computed for all steps at once;
        `weight_hh`: the W_hh to use instead of the parameter (a weight-dropped copy)."""
        h_prev = state[0] if self.kind == "lstm" else state  # (B, H)
        w_hh = self.weight_hh if weight_hh is None else weight_hh
        h_proj = torch.addmm(self.bias_hh, h_prev, w_hh.t())  # (B, rows)
        return cell_update(self.kind, x_proj, h_proj, state)


def cell_update(
    kind: str, x_proj: Tensor, h_proj: Tensor, state
) -> tuple[Tensor, object, dict[str, Tensor]]:
    """The equations above given both projections (W_ih x_t + b_ih, W_hh h_{t−1} + b_hh),
    each (B, gates × H) -> (h_t, new state, every named activation for the probes).
    Shared by the reference layer and the bf16 generation step."""
    if kind == "rnn":
        h = torch.tanh(x_proj + h_proj)
        return h, h, {}
    if kind == "lstm":
        c_prev = state[1]  # (B, H)
        i, f, g, o = (x_proj + h_proj).chunk(4, dim=1)  # each (B, H)
        input_gate = torch.sigmoid(i)
        forget_gate = torch.sigmoid(f)
        candidate = torch.tanh(g)
        output_gate = torch.sigmoid(o)
        cell_state = forget_gate * c_prev + input_gate * candidate  # the additive path
        h = output_gate * torch.tanh(cell_state)
        activations = {
            "input_gate": input_gate,
            "forget_gate": forget_gate,
            "candidate": candidate,
            "output_gate": output_gate,
            "cell_state": cell_state,
        }
        return h, (h, cell_state), activations
    xr, xz, xn = x_proj.chunk(3, dim=1)  # each (B, H)
    hr, hz, hn = h_proj.chunk(3, dim=1)
    reset_gate = torch.sigmoid(xr + hr)
    update_gate = torch.sigmoid(xz + hz)
    candidate = torch.tanh(xn + reset_gate * hn)
    h = (1 - update_gate) * candidate + update_gate * state
    return h, h, {"reset_gate": reset_gate, "update_gate": update_gate, "candidate": candidate}


def layer_result(outputs: list[Tensor], state, recorded: list[dict] | None):
    """outputs (T, B, H), final state[, every recorded activation stacked over time]."""
    out = torch.stack(outputs)
    if recorded is None:
        return out, state
    gates = {name: torch.stack([a[name] for a in recorded]) for name in (recorded[:1] or [{}])[0]}
    gates["hidden"] = out
    return out, state, gates


class ReferenceLayer(nn.Module):
    """Runs a cell over a sequence (time-major), one matrix product for all inputs.
    `weight_drop`: DropConnect on W_hh in training, one mask per forward (AWD-LSTM)."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, weight_drop: float = 0.0):
        super().__init__()
        self.cell = RecurrentCell(kind, input_size, hidden_size)
        self.weight_drop = weight_drop

    def forward(self, x: Tensor, state=None, return_gates: bool = False):
        """x: (T, B, input) -> outputs (T, B, hidden), final state[, gates (T, B, hidden)]."""
        cell = self.cell
        if state is None:
            state = cell.initial_state(x.shape[1], x)
        x_proj = torch.addmm(cell.bias_ih, x.reshape(-1, x.shape[-1]), cell.weight_ih.t())
        x_proj = x_proj.view(x.shape[0], x.shape[1], -1)
        w_hh = None
        if self.training and self.weight_drop > 0:
            w_hh = drop_weights(cell.weight_hh, self.weight_drop)
        outputs, recorded = [], []
        for t in range(x.shape[0]):
            h, state, activations = cell.step(x_proj[t], state, w_hh)
            outputs.append(h)
            if return_gates:  # kept for the probes; the equations never see this
                recorded.append(activations)
        return layer_result(outputs, state, recorded if return_gates else None)

    @property
    def weights(self) -> dict[str, Tensor]:
        return self.cell.weights


class FusedLayer(nn.Module):
    """The same layer on torch's fused kernel (oneDNN on CPU, cuDNN on GPU). With weight
    drop the kernel is called functionally with the dropped W_hh, so it stays fused."""

    KERNELS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    FUNCTIONS = {"rnn": _VF.rnn_tanh, "lstm": _VF.lstm, "gru": _VF.gru}

    def __init__(self, kind: str, input_size: int, hidden_size: int, weight_drop: float = 0.0):
        super().__init__()
        self.kind, self.hidden_size, self.weight_drop = kind, hidden_size, weight_drop
        self.kernel = self.KERNELS[kind](input_size, hidden_size, num_layers=1)

    STEPS = {"rnn": torch.rnn_tanh_cell, "lstm": torch.lstm_cell, "gru": torch.gru_cell}

    def forward(self, x: Tensor, state=None, return_gates: bool = False):
        if return_gates:
            raise ValueError("gate activations need the reference backend")
        if x.shape[0] == 1 and not torch.is_grad_enabled():
            return self._one_step(x, state)
        if self.training and self.weight_drop > 0:
            return self._weight_dropped(x, state)
        if state is not None:
            state = tuple(s.unsqueeze(0) for s in state) if self.kind == "lstm" else state[None]
        out, new = self.kernel(x, state)
        new = tuple(s.squeeze(0) for s in new) if self.kind == "lstm" else new.squeeze(0)
        return out, new

    def _weight_dropped(self, x: Tensor, state):
        """The fused kernel with W_hh replaced by a DropConnect copy (what nn.LSTM.forward
        calls, given our weights instead of its own)."""
        k = self.kernel
        if state is None:
            h = x.new_zeros(x.shape[1], self.hidden_size)
            state = (h, h) if self.kind == "lstm" else h
        w_hh = drop_weights(k.weight_hh_l0, self.weight_drop)
        weights = [k.weight_ih_l0, w_hh, k.bias_ih_l0, k.bias_hh_l0]
        if self.kind == "lstm":
            hx = (state[0][None].to(x.dtype), state[1][None].to(x.dtype))
            out, h, c = _VF.lstm(x, hx, weights, True, 1, 0.0, True, False, False)
            return out, (h[0], c[0])
        out, h = self.FUNCTIONS[self.kind](
            x, state[None].to(x.dtype), weights, True, 1, 0.0, True, False, False
        )
        return out, h[0]

    def _one_step(self, x: Tensor, state):
        """Generation's single step on the cell kernel: the fused sequence kernel would
        re-pack all the weights for one step (oneDNN: ~5 ms for a 650-unit LSTM layer)."""
        if state is None:
            h = x.new_zeros(x.shape[1], self.hidden_size)
            state = (h, h) if self.kind == "lstm" else h
        k = self.kernel
        new = self.STEPS[self.kind](
            x[0], state, k.weight_ih_l0, k.weight_hh_l0, k.bias_ih_l0, k.bias_hh_l0
        )
        return (new[0] if self.kind == "lstm" else new)[None], new

    @property
    def weights(self) -> dict[str, Tensor]:
        k = self.kernel
        return {
            "weight_ih": k.weight_ih_l0,
            "weight_hh": k.weight_hh_l0,
            "bias_ih": k.bias_ih_l0,
            "bias_hh": k.bias_hh_l0,
        }


def make_layer(
    backend: str, kind: str, input_size: int, hidden_size: int, weight_drop: float = 0.0
) -> nn.Module:
    if backend == "reference":
        return ReferenceLayer(kind, input_size, hidden_size, weight_drop)
    if backend == "fused":
        return FusedLayer(kind, input_size, hidden_size, weight_drop)
    raise ValueError(f"unknown backend {backend!r}")
