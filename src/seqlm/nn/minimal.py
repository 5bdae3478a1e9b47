"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Their gates read x_t only, never h_{t−1}, so each recurrence is linear in h:
h_t = a_t ⊙ h_{t−1} + b_t, with a_t, b_t known for every step before the first one runs.
Training and scoring therefore compute all steps at once as a scan in log space
(`scan`, Heinsen 2023); generation and the reference backend run the same equations one
step at a time (`cell_update`). With no hidden-to-hidden matrix there is nothing for
weight drop (DropConnect on W_hh) to act on, so the cells refuse it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlm.io import SeqlmError
from seqlm.nn.cells import Gate, RecurrentCell, State, Step

# Steps per block of the scan. Within a block log h_t is log A_t plus a term near −log A_t
# (A_t: the product of the a_s), so fp32 loses about ulp(|log A_t|): bounding the block
# bounds the relative error (32 steps of a half-open gate: ~2e-6; of gates saturated at
# ±50: ~1e-4). Blocks hand h on exactly; training windows (bptt ≤ 70) take one to three.
CHUNK = 32


def g(x: Tensor) -> Tensor:
    """g(x) = x + 0.5 for x ≥ 0, σ(x) below: positive (so log h exists), continuous at 0
    (σ(0) = 0.5), linear growth instead of tanh's saturation."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """log g(x), without forming g: log(x + 0.5) for x ≥ 0, −softplus(−x) below (relu
    keeps the unused branch finite, so its gradient is never NaN)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def logcumsumexp(x: Tensor) -> Tensor:
    """log Σ_{s≤t} exp x_s over dim 0. ONNX has no such op, so an export computes it as
    a log-sum-exp over the pairs s ≤ t, less its maximum (stable; T² memory)."""
    if not torch.onnx.is_in_onnx_export():
        return torch.logcumsumexp(x, dim=0)
    steps = torch.arange(x.shape[0], device=x.device)
    later = (steps[None, :] > steps[:, None]).view(*steps.shape, *steps.shape, 1, 1)
    pairs = x[None].expand(x.shape[0], *x.shape).masked_fill(later, float("-inf"))
    top = pairs.amax(dim=1, keepdim=True)  # finite: s = t is always a term
    return (top + torch.log(torch.exp(pairs - top).sum(dim=1, keepdim=True)))[:, 0]


def scan(log_a: Tensor, log_b: Tensor, h0: Tensor, chunk: int = CHUNK) -> Tensor:
    """h_1..h_T of h_t = a_t ⊙ h_{t−1} + b_t, given log a_t, log b_t (T, B, H) and h_0
    (B, H), in blocks of `chunk` steps:
        A_t = Π_{s≤t} a_s,   h_t = A_t ⊙ h_0 + Σ_{s≤t} (A_t / A_s) ⊙ b_s
        log Σ_{s≤t} (A_t / A_s) b_s = log A_t + logcumsumexp_{s≤t}(log b_s − log A_s)
    logcumsumexp subtracts its running maximum, so nothing is exponentiated before the
    terms are combined: no overflow at any length, and an underflow is the true value 0.
    h_0 enters linearly, not through its log, so it may be zero (the first window) or of
    either sign; b_t > 0 is all the log needs. A trace (export) takes one block: its
    slices would otherwise fix the length it was traced at."""
    starts = range(0, log_a.shape[0], chunk)
    blocks = (
        [(log_a, log_b)]
        if torch.jit.is_tracing()
        else [(log_a[s : s + chunk], log_b[s : s + chunk]) for s in starts]
    )
    out = []
    for block_a, block_b in blocks:
        log_A = torch.cumsum(block_a, dim=0)
        inputs = logcumsumexp(block_b - log_A)
        h = torch.exp(log_A + inputs) + torch.exp(log_A) * h0
        out.append(h)
        h0 = h[-1]
    return torch.cat(out)


class MinimalCell(RecurrentCell):
    """What minGRU and minLSTM share: W_x and b per gate (no W_h), the step that reads
    only x_t, and the parallel form."""

    def make_parameters(self) -> None:
        rows = len(self.gates) * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, self.input_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))

    @classmethod
    def from_config(cls, input_size: int, hidden_size: int, config=None) -> MinimalCell:
        if config is not None and config.weight_drop > 0:
            raise SeqlmError(
                f"--weight-drop needs a hidden-to-hidden matrix; {config.cell} has none "
                "(set --weight-drop 0; --dropout-between regularises it instead)"
            )
        return cls(input_size, hidden_size)

    def gate(self, name: str) -> Gate:
        """The gate's rows; its W_h is empty and its hidden bias a detached zero."""
        k, h = self.gates.index(name), self.hidden_size
        rows = slice(k * h, (k + 1) * h)
        empty = self.weight_ih.new_zeros(h, 0)
        return Gate(self.weight_ih[rows], empty, self.bias_ih[rows], self.bias_ih.new_zeros(h))

    def step(self, x_proj: Tensor, state: State, weights: dict[str, Tensor]) -> Step:
        return self.cell_update(x_proj, None, state)

    def log_coefficients(self, x_proj: Tensor) -> tuple[Tensor, Tensor]:
        """log a_t, log b_t of h_t = a_t ⊙ h_{t−1} + b_t, from W x_t + b (T, B, rows)."""
        raise NotImplementedError

    def parallel(self, x: Tensor, state: Tensor, weights: dict[str, Tensor]):
        """x (T, B, D) -> (outputs (T, B, H), h_T): the scan, in fp32 at least (under
        bf16 autocast the logs would keep 3 significant digits)."""
        x_proj = self.project_inputs(x, weights)
        if x_proj.dtype != torch.float64:
            x_proj = x_proj.float()
        log_a, log_b = self.log_coefficients(x_proj)
        out = scan(log_a, log_b, state.to(x_proj.dtype))
        return out, out[-1]


class MinGRUCell(MinimalCell):
    gates = ("update_gate", "candidate")

    def cell_update(self, x_proj: Tensor, h_proj: None, state: State) -> Step:
        """minGRU (Feng et al. 2024, eq. for minGRU):
        z_t = σ(W_z x_t + b_z)                          update gate: how much to write
        h̃_t = g(W_h x_t + b_h)                          candidate (g > 0, see `g`)
        h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t
        The GRU without its reset gate and with neither gate reading h_{t−1}; torch's
        GRU would write z_t for the fraction kept."""
        z, k = x_proj.chunk(2, dim=-1)
        update_gate, candidate = torch.sigmoid(z), g(k)
        kept = torch.sigmoid(-z)  # 1 − z_t, exact where z_t rounds to 1
        h = kept * state + update_gate * candidate
        return h, h, {"update_gate": update_gate, "candidate": candidate}

    def log_coefficients(self, x_proj: Tensor) -> tuple[Tensor, Tensor]:
        """a_t = 1 − z_t, b_t = z_t ⊙ h̃_t; log σ(x) = −softplus(−x), log(1 − σ(x)) =
        −softplus(x), exact at any pre-activation."""
        z, k = x_proj.chunk(2, dim=-1)
        return -F.softplus(z), -F.softplus(-z) + log_g(k)


class MinLSTMCell(MinimalCell):
    gates = ("forget_gate", "input_gate", "candidate")

    @staticmethod
    def log_shares(f: Tensor, i: Tensor) -> tuple[Tensor, Tensor]:
        """log f'_t, log i'_t from the pre-activations: with d = log i_t − log f_t =
        softplus(−f) − softplus(−i), f' = 1 / (1 + e^d), so log f' = −softplus(d) and
        log i' = −softplus(−d); finite where f_t + i_t itself underflows."""
        d = F.softplus(-f) - F.softplus(-i)
        return -F.softplus(d), -F.softplus(-d)

    def cell_update(self, x_proj: Tensor, h_proj: None, state: State) -> Step:
        """minLSTM (Feng et al. 2024):
        f_t = σ(W_f x_t + b_f)                          forget gate
        i_t = σ(W_i x_t + b_i)                          input gate
        h̃_t = g(W_h x_t + b_h)                          candidate (g > 0, see `g`)
        f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)   normalised: f' + i' = 1
        h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t
        No cell state, no output gate: the LSTM's c_t is h_t here. The normalisation
        keeps h_t a convex mixture, so its scale does not depend on the sequence's length."""
        f, i, k = x_proj.chunk(3, dim=-1)
        log_f, log_i = self.log_shares(f, i)  # f', i' as exp of their logs: see log_shares
        kept, written = torch.exp(log_f), torch.exp(log_i)
        candidate = g(k)
        h = kept * state + written * candidate
        activations = {
            "forget_gate": torch.sigmoid(f),
            "input_gate": torch.sigmoid(i),
            "candidate": candidate,
            "forget_normalised": kept,
            "input_normalised": written,
        }
        return h, h, activations

    def log_coefficients(self, x_proj: Tensor) -> tuple[Tensor, Tensor]:
        """a_t = f'_t, b_t = i'_t ⊙ h̃_t."""
        f, i, k = x_proj.chunk(3, dim=-1)
        log_f, log_i = self.log_shares(f, i)
        return log_f, log_i + log_g(k)
