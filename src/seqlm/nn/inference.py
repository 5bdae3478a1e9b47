"""Generation's step with low-precision weights.

Batch-1 decoding reads every weight once per token, so its speed is memory bandwidth, not
arithmetic: the 2x650 PTB LSTM touches 36 MB of fp32 weights per token, more than this
CPU's L3. A bf16 copy halves that. Only the matrix products use it: the recurrent state,
the cell equations (`cells.cell_update`) and the log-softmax stay fp32, so the cell
state's additive path never rounds to bf16 and the errors do not accumulate over time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlm.nn.cells import cell_update


class LowPrecisionStep:
    """A frozen copy of a RecurrentLM's weights (matrices in `dtype`, the rest as they are);
    rebuild it after the parameters change."""

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.bfloat16):
        self.kind, self.dtype = model.kind, dtype
        self.initial_state = model.initial_state
        self.full_dtype = model.embedding.weight.dtype
        low = lambda t: t.detach().to(dtype).contiguous()  # noqa: E731
        full = Tensor.detach  # no copy: the model rebuilds this when a parameter changes
        self.embedding = full(model.embedding.weight)
        self.layers = [
            (low(w["weight_ih"]), low(w["weight_hh"]), full(w["bias_ih"]), full(w["bias_hh"]))
            for w in (layer.weights for layer in model.layers)
        ]
        decoder = model.decoder
        self.adaptive = isinstance(decoder, nn.AdaptiveLogSoftmaxWithLoss)
        if self.adaptive:
            head = decoder.head
            self.head = (low(head.weight), None if head.bias is None else full(head.bias))
            self.tails = [(low(t[0].weight), low(t[1].weight)) for t in decoder.tail]
            self.cutoffs, self.shortlist = decoder.cutoffs, decoder.shortlist_size
        else:
            self.head = (low(decoder.weight), full(decoder.bias))

    def _linear(self, x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        out = F.linear(x.to(self.dtype), weight).to(self.full_dtype)
        return out if bias is None else out + bias

    @torch.inference_mode()
    def __call__(self, token: int, state: list | None) -> tuple[list, Tensor]:
        """Read one token: -> (new state, fp32 log-probabilities of the next token)."""
        x = self.embedding[token][None]
        new_state, state = [], state or self.initial_state(1)
        for i, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.layers):
            layer_state = state[i]
            h_prev = layer_state[0] if self.kind == "lstm" else layer_state
            x, s, _ = cell_update(
                self.kind,
                self._linear(x, w_ih, b_ih),
                self._linear(h_prev, w_hh, b_hh),
                layer_state,
            )
            new_state.append(s)
        return new_state, self._log_probs(x)[0]

    def _log_probs(self, x: Tensor) -> Tensor:
        """The full distribution; for the adaptive softmax, torch's `log_prob` decomposition:
        head over the shortlist and one entry per cluster, each cluster's own softmax."""
        head = F.log_softmax(self._linear(x, *self.head), dim=-1)
        if not self.adaptive:
            return head
        out = x.new_empty(x.shape[0], self.cutoffs[-1])
        out[:, : self.shortlist] = head[:, : self.shortlist]
        for i, (proj, weight) in enumerate(self.tails):
            start, stop = self.cutoffs[i], self.cutoffs[i + 1]
            cluster = F.log_softmax(self._linear(self._linear(x, proj), weight), dim=-1)
            out[:, start:stop] = cluster + head[:, self.shortlist + i, None]
        return out
