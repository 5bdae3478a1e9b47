"""Generation's step with low-precision weights.

Batch-1 decoding reads every weight once per token, so its speed is memory bandwidth, not
arithmetic: the 2x650 PTB LSTM touches 36 MB of fp32 weights per token, more than this
CPU's L3. A bf16 copy halves that. Only the matrix products use it (`cells.project`): the
recurrent state, the cell equations and the log-softmax stay fp32, so the cell state's
additive path never rounds to bf16 and the errors do not accumulate over time. The step
itself is the model's own: the layers' reference step and the decoder's own forward or
`log_prob`, given these copies.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from seqlm.nn.cells import project


class LowPrecisionLinear(nn.Module):
    """An nn.Linear's function with its weight frozen in `dtype` (the bias as it is)."""

    def __init__(self, linear: nn.Linear, dtype: torch.dtype):
        super().__init__()
        self.weight = linear.weight.detach().to(dtype).contiguous()
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: Tensor) -> Tensor:
        return project(x, self.weight, self.bias)


def lowered(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A frozen copy of `module` whose every nn.Linear multiplies in `dtype`; the
    containers are shallow copies (no parameter of the original is copied or changed)."""
    if isinstance(module, nn.Linear):
        return LowPrecisionLinear(module, dtype)
    low = copy.copy(module)
    low._modules = {name: lowered(child, dtype) for name, child in module._modules.items()}
    return low


def lowered_weights(weights: dict[str, Tensor], dtype: torch.dtype) -> dict[str, Tensor]:
    """A layer's parameters for the reference step: matrices in `dtype`, biases as they are."""
    return {
        name: w.detach().to(dtype).contiguous() if w.dim() > 1 else w.detach()
        for name, w in weights.items()
    }
