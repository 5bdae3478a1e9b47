"""xLSTM's cells (Beck et al. 2024): exponential gating, the sLSTM and the mLSTM.

Both replace the LSTM's sigmoid input gate by i_t = exp(ĩ_t), which can make one step's
write outweigh everything stored before; f_t = σ(f̃_t) (log f_t = log σ(f̃_t)). exp
overflows, so the state keeps a stabiliser m_t, a running maximum of the log weights, and
stores c, n (and C) divided by exp(m_t); every output is a ratio, so the scale cancels:
    m_t = max(log f_t + m_{t−1}, log i_t)
    i'_t = exp(log i_t − m_t),   f'_t = exp(log f_t + m_{t−1} − m_t)     both ≤ 1
Heads split the H units into `heads` groups of d = H / heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlm.io import SeqlmError
from seqlm.nn.cells import Gate, RecurrentCell, State, Step

EPS = 1e-6  # added to the mLSTM's denominator, as in the reference implementation
CHUNK = 128  # steps per window of the mLSTM's parallel form (memory ~ B·heads·CHUNK²)


def head_dim(hidden_size: int, heads: int) -> int:
    if heads < 1 or hidden_size % heads:
        raise ValueError(f"{hidden_size} units do not split into {heads} heads")
    return hidden_size // heads


def bound(m: Tensor) -> Tensor:
    """exp(−m_t), the stabilised 1 of max(|nᵀq|, 1), at most e^80: past that (m_t < −80,
    all weights in memory negligible) the read-out is ~0 either way, and an infinite
    bound would make its gradient inf · 0 = NaN."""
    return torch.exp((-m).clamp(max=80.0))


class SLSTMCell(RecurrentCell):
    """sLSTM: scalar memory per unit, exponential gates, memory mixing within a head.
    W_hh is block-diagonal (each head reads only its own units' h_{t−1}): stored as the
    blocks, `weight_hh` (4H, d), rows in the stacked gate order, row r of a gate reading
    the d units of head r // d. There is no parallel form: the loop runs on both backends."""

    gates = ("input_gate", "forget_gate", "candidate", "output_gate")
    state_parts = 4  # (h, c, n, m)

    def __init__(self, input_size: int, hidden_size: int, heads: int = 4):
        self.heads, self.head_size = heads, head_dim(hidden_size, heads)
        super().__init__(input_size, hidden_size)

    @classmethod
    def from_config(cls, input_size: int, hidden_size: int, config=None) -> RecurrentCell:
        return cls(input_size, hidden_size, 4 if config is None else config.heads)

    def make_parameters(self) -> None:
        super().make_parameters()
        self.weight_hh = nn.Parameter(torch.empty(4 * self.hidden_size, self.head_size))

    def step(self, x_proj: Tensor, state: State, weights: dict[str, Tensor]) -> Step:
        """R h_{t−1} + b, head by head."""
        h = state[0]
        blocks = weights["weight_hh"].to(h.dtype).view(4, self.heads, self.head_size, -1)
        mixed = torch.einsum("bke,gkje->bgkj", h.view(h.shape[0], self.heads, -1), blocks)
        return self.cell_update(x_proj, mixed.reshape(h.shape[0], -1) + weights["bias_hh"], state)

    def cell_update(self, x_proj: Tensor, h_proj: Tensor, state: State) -> Step:
        """sLSTM (ĩ, f̃, z̃, õ = W x_t + R h_{t−1} + b, R block-diagonal per head):
        z_t = tanh(z̃_t), o_t = σ(õ_t), log i_t = ĩ_t, log f_t = log σ(f̃_t)
        m_t = max(log f_t + m_{t−1}, log i_t)                 stabiliser state
        c_t = f'_t c_{t−1} + i'_t z_t                          cell state (÷ exp m_t)
        n_t = f'_t n_{t−1} + i'_t                              normaliser state (÷ exp m_t)
        h_t = o_t ⊙ c_t / n_t
        n = 0 marks the empty memory (the zero state): m_{t−1} counts as −∞ there, so the
        first write has weight i' = 1 and n_t ≥ 1 from then on (no 0/0 however small i_t).
        Recorded: input_gate a_t = i'_t / n_t and forget_gate f'_t n_{t−1} / n_t, the
        shares of c_t / n_t written and kept (in [0, 1], summing to 1: c/n is a moving
        average of z); cell_state c_t / n_t; normalizer_state n_t; stabilizer_state m_t."""
        i_pre, f_pre, z_pre, o_pre = (x_proj + h_proj).chunk(4, dim=1)
        _, c, n, m = state
        carried = torch.where(n == 0, -math.inf, F.logsigmoid(f_pre) + m)  # log f_t + m_{t−1}
        m_new = torch.maximum(carried, i_pre)
        input_gate, forget_gate = torch.exp(i_pre - m_new), torch.exp(carried - m_new)
        output_gate = torch.sigmoid(o_pre)
        cell_state = forget_gate * c + input_gate * torch.tanh(z_pre)
        normalizer_state = forget_gate * n + input_gate
        memory = cell_state / normalizer_state
        h = output_gate * memory
        activations = {
            "input_gate": input_gate / normalizer_state,
            "forget_gate": forget_gate * n / normalizer_state,
            "candidate": torch.tanh(z_pre),
            "output_gate": output_gate,
            "cell_state": memory,
            "normalizer_state": normalizer_state,
            "stabilizer_state": m_new,
        }
        return h, (h, cell_state, normalizer_state, m_new), activations


class MLSTMCell(RecurrentCell):
    """mLSTM: a d×d matrix memory per head, written with v kᵀ and read with q. Its gates
    read x_t only (no memory mixing), so the recurrence has a parallel form (`parallel`):
    what training and scoring run. Rows of `weight_ih`/`bias_ih`: q, k, v, o (H each),
    then ĩ and f̃ (one per head); no hidden-to-hidden weights."""

    gates = ("query", "key", "value", "output_gate", "input_gate", "forget_gate")
    state_parts = 4  # (h (B, H), C (B, heads, d, d), n (B, heads, d), m (B, heads))

    def __init__(self, input_size: int, hidden_size: int, heads: int = 4):
        self.heads, self.head_size = heads, head_dim(hidden_size, heads)
        super().__init__(input_size, hidden_size)

    @classmethod
    def from_config(cls, input_size: int, hidden_size: int, config=None) -> RecurrentCell:
        if config is not None and config.weight_drop > 0:
            raise SeqlmError(
                "--weight-drop needs a hidden-to-hidden matrix; mlstm has none "
                "(use --dropout-between or --dropout-embed)"
            )
        return cls(input_size, hidden_size, 4 if config is None else config.heads)

    def make_parameters(self) -> None:
        rows = 4 * self.hidden_size + 2 * self.heads
        self.weight_ih = nn.Parameter(torch.empty(rows, self.input_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))

    def gate(self, name: str) -> Gate:
        k, H = self.gates.index(name), self.hidden_size
        start = k * H if k < 4 else 4 * H + (k - 4) * self.heads
        rows = slice(start, start + (H if k < 4 else self.heads))
        w, b = self.weight_ih[rows], self.bias_ih[rows]
        return Gate(w, w.new_zeros(len(b), 0), b, b.new_zeros(len(b)))

    def zero_state(self, batch: int, like: Tensor) -> State:
        K, d = self.heads, self.head_size
        shapes = [(self.hidden_size,), (K, d, d), (K, d), (K,)]
        return tuple(like.new_zeros(batch, *shape) for shape in shapes)

    def split(self, x_proj: Tensor):
        """(..., rows) -> q, k/√d, v, õ each (..., heads, d); ĩ, f̃ each (..., heads)."""
        H, K = self.hidden_size, self.heads
        q, k, v, o = (x_proj[..., j * H : (j + 1) * H].unflatten(-1, (K, -1)) for j in range(4))
        return q, k / math.sqrt(self.head_size), v, o, x_proj[..., 4 * H :].split(K, dim=-1)

    def step(self, x_proj: Tensor, state: State, weights: dict[str, Tensor]) -> Step:
        return self.cell_update(x_proj, None, state)

    def cell_update(self, x_proj: Tensor, h_proj: Tensor | None, state: State) -> Step:
        """mLSTM, per head (q, k, v, õ, ĩ, f̃ from W x_t + b; k scaled by 1/√d):
        m_t = max(log σ(f̃_t) + m_{t−1}, ĩ_t)                 stabiliser state
        C_t = f'_t C_{t−1} + i'_t v_t k_tᵀ                     matrix memory (÷ exp m_t)
        n_t = f'_t n_{t−1} + i'_t k_t                          normaliser state (÷ exp m_t)
        h̃_t = C_t q_t / (max(|n_tᵀ q_t|, exp(−m_t)) + ε)     read-out (C q / max(|nᵀq|, 1))
        h_t = σ(õ_t) ⊙ norm(h̃_t)                              `head_norm`, per head
        Recorded, each spread over its head's units:
        input_gate i'_t (this write's weight relative to the largest in memory),
        forget_gate σ(f̃_t), memory_norm ‖C_t‖ / ‖n_t‖; cell_state the read-out C q / (…)."""
        q, k, v, o, (i_pre, f_pre) = self.split(x_proj)
        _, C, n, m = state
        log_f = F.logsigmoid(f_pre)
        m_new = torch.maximum(log_f + m, i_pre)
        f_, i_ = torch.exp(log_f + m - m_new), torch.exp(i_pre - m_new)  # (B, heads)
        C = f_[..., None, None] * C + i_[..., None, None] * v[..., :, None] * k[..., None, :]
        n = f_[..., None] * n + i_[..., None] * k
        readout = (C @ q[..., None])[..., 0] / self.denominator(n, q, m_new)[..., None]
        h = (torch.sigmoid(o) * self.head_norm(readout)).flatten(-2)
        spread = lambda g: g[..., None].expand(*g.shape, self.head_size).flatten(-2)  # noqa: E731
        norm = C.flatten(-2).norm(dim=-1) / n.norm(dim=-1).clamp_min(1e-30)
        activations = {
            "input_gate": spread(i_),
            "forget_gate": spread(torch.sigmoid(f_pre)),
            "output_gate": torch.sigmoid(o).flatten(-2),
            "cell_state": readout.flatten(-2),
            "memory_norm": spread(norm),
        }
        return h, (h, C, n, m_new), activations

    def head_norm(self, readout: Tensor) -> Tensor:
        """Each head's read-out to mean 0, variance 1 (the xLSTM block's head-wise norm,
        without its affine weight): C q is cubic in the input's scale, so without it a
        stack of mLSTM layers passes on almost nothing at small activations."""
        return F.layer_norm(readout, (self.head_size,), eps=1e-5)

    @staticmethod
    def denominator(n: Tensor, q: Tensor, m: Tensor) -> Tensor:
        return torch.maximum((n * q).sum(-1).abs(), bound(m)) + EPS

    def parallel(self, x: Tensor, state: State, weights: dict[str, Tensor]):
        """The same outputs and final state, window by window (`CHUNK` steps each)."""
        x_proj = self.project_inputs(x, weights)
        if len(x_proj) <= CHUNK:  # one window: no slicing (an export traces any length)
            return self.window(x_proj, state)
        outputs = []
        for start in range(0, len(x_proj), CHUNK):
            out, state = self.window(x_proj[start : start + CHUNK], state)
            outputs.append(out)
        return torch.cat(outputs), state

    def window(self, x_proj: Tensor, state: State):
        """Chunkwise parallel form over T steps from the carried (C_0, n_0, m_0): with
        b_t = Σ_{r≤t} log f_r and log D_ts = b_t − b_s + ĩ_s (s ≤ t; −∞ after t),
            m_t = max(b_t + m_0, max_s log D_ts)           the recurrence's m_t, unrolled
            C_t q_t = e^{b_t+m_0−m_t} C_0 q_t + Σ_s e^{log D_ts − m_t} (k_sᵀ q_t) v_s
            n_tᵀq_t = e^{b_t+m_0−m_t} n_0ᵀq_t + Σ_s e^{log D_ts − m_t} k_sᵀ q_t
        all T at once (heads × T × T products), the final state from the last row."""
        q, k, v, o, (i_pre, f_pre) = self.split(x_proj)  # leading (T, B)
        q, k, v, o = (t.permute(1, 2, 0, 3) for t in (q, k, v, o))  # (B, heads, T, d)
        i_pre, f_pre = i_pre.permute(1, 2, 0), f_pre.permute(1, 2, 0)  # (B, heads, T)
        _, C0, n0, m0 = state
        b = F.logsigmoid(f_pre).cumsum(-1)
        T = b.shape[-1]
        causal = torch.ones(T, T, dtype=torch.bool, device=b.device).tril()
        log_d = b[..., :, None] - b[..., None, :] + i_pre[..., None, :]
        log_d = torch.where(causal, log_d, -math.inf)
        carried = b + m0[..., None]  # (B, heads, T)
        m = torch.maximum(carried, log_d.amax(-1))
        decay, weights = torch.exp(carried - m), torch.exp(log_d - m[..., None])
        scores = weights * (q @ k.transpose(-1, -2))  # (B, heads, T, T)
        num = scores @ v + decay[..., None] * (q @ C0.transpose(-1, -2))
        dot = scores.sum(-1) + decay * (q @ n0[..., None])[..., 0]
        readout = num / (torch.maximum(dot.abs(), bound(m)) + EPS)[..., None]
        h = (torch.sigmoid(o) * self.head_norm(readout)).permute(2, 0, 1, 3).flatten(2)  # (T, B, H)
        last = weights[..., -1, :]  # e^{log D_Ts − m_T}: (B, heads, T)
        C = decay[..., -1, None, None] * C0 + (v * last[..., None]).transpose(-1, -2) @ k
        n = decay[..., -1, None] * n0 + (last[..., None] * k).sum(-2)
        return h, (h[-1], C, n, m[..., -1])
