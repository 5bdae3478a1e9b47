"""A recurrent layer: a cell run over a sequence, on its equations or its fused kernel.

The two forward paths: the reference loop (`RecurrentCell.step` at every time step, one
matrix product for all inputs; records every gate for the probes) and the fast one: where
the cell names one, torch's fused kernel (oneDNN on CPU, cuDNN on GPU) called on the
cell's own parameters through `torch.func.functional_call`, so both read one set of
weights; or the cell's own parallel form (a scan over time, `RecurrentCell.parallel`). Weight
drop (DropConnect on W_hh, AWD-LSTM) substitutes a dropped copy in either path.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.func import functional_call

from seqlm.nn.cells import RecurrentCell, State
from seqlm.nn.config import CELL_CLASSES
from seqlm.nn.regularize import drop_weights


def _cell_class(path: str) -> type[RecurrentCell]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


CELL_TYPES: dict[str, type[RecurrentCell]] = {
    kind: _cell_class(path) for kind, path in CELL_CLASSES.items()
}
GATES = {kind: cell.gates for kind, cell in CELL_TYPES.items()}
BACKENDS = ("fused", "reference")


@contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode inside the block, in the mode it was found in after it."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


class RecurrentLayer(nn.Module):
    """Runs `cell` over a sequence (time-major). `fused`: on the cell's kernel where it
    has one. `weight_drop`: DropConnect on W_hh in training, one mask per forward."""

    def __init__(self, cell: RecurrentCell, weight_drop: float = 0.0, fused: bool = True):
        super().__init__()
        self.cell, self.weight_drop = cell, weight_drop
        self.fused = fused and (cell.kernel is not None or cell.parallel is not None)
        self._kernel = None  # a tuple: not a submodule, so not a second set of names
        if (
            self.fused and cell.kernel is not None
        ):  # built on the meta device (no draws), then given the cell's parameters
            kernel = cell.kernel(*cell.sizes, device="meta")
            for name, parameter in cell.weights.items():
                setattr(kernel, f"{name}_l0", parameter)
            self._kernel = (kernel,)

    @property
    def weights(self) -> dict[str, Tensor]:
        return self.cell.weights

    def forward(self, x: Tensor, state: State | None = None, return_gates: bool = False):
        """x: (T, B, input) -> outputs (T, B, hidden), final state[, gates (T, B, hidden)]."""
        cell = self.cell
        if state is None:
            state = cell.zero_state(x.shape[1], x)
        if not self.fused or return_gates:
            return self.reference(x, state, return_gates)
        if cell.kernel is None:
            if x.shape[0] == 1:  # one step (generation): the sequential form is the cheaper
                return self.reference(x, state)
            return cell.parallel(x, state, self.training_weights())
        if x.shape[0] == 1 and not torch.is_grad_enabled():
            return self.one_step(x, state)
        return self.fused_sequence(x, state, self.training_weights())

    def training_weights(self) -> dict[str, Tensor]:
        """The parameters, W_hh weight-dropped in training (the mask drawn here, once)."""
        weights = self.cell.weights
        if self.training and self.weight_drop > 0:
            weights["weight_hh"] = drop_weights(weights["weight_hh"], self.weight_drop)
        return weights

    def reference(
        self, x: Tensor, state: State, return_gates: bool = False, weights: dict | None = None
    ):
        """The cell's equations at every step; `weights`: replacements for the parameters
        (bf16 generation's copies)."""
        weights = self.training_weights() if weights is None else weights
        x_proj = self.cell.project_inputs(x, weights)
        outputs, recorded = [], []
        for t in range(x.shape[0]):
            h, state, activations = self.cell.step(x_proj[t], state, weights)
            outputs.append(h)
            if return_gates:  # kept for the probes; the equations never see this
                recorded.append(activations)
        out = torch.stack(outputs)
        if not return_gates:
            return out, state
        gates = {
            name: torch.stack([a[name] for a in recorded]) for name in (recorded[:1] or [{}])[0]
        }
        gates["hidden"] = out
        return out, state, gates

    def fused_sequence(self, x: Tensor, state: State, weights: dict[str, Tensor]):
        """The whole sequence in one kernel call; `weights` that differ from the cell's
        parameters (a weight-dropped W_hh) are lent to the kernel for this call only."""
        hx = tuple(s[None].to(x.dtype) for s in (state if self.cell.state_parts > 1 else (state,)))
        hx = hx if len(hx) > 1 else hx[0]
        kernel, own = self._kernel[0], self.cell.weights
        lent = {f"{name}_l0": w for name, w in weights.items() if w is not own[name]}
        out, new = functional_call(kernel, lent, (x, hx)) if lent else kernel(x, hx)
        return out, tuple(s[0] for s in new) if self.cell.state_parts > 1 else new[0]

    def one_step(self, x: Tensor, state: State):
        """Generation's single step on the cell kernel: the fused sequence kernel would
        re-pack all the weights for one step (oneDNN: ~5 ms for a 650-unit LSTM layer)."""
        w = self.cell.weights
        new = self.cell.step_kernel(
            x[0], state, w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"]
        )
        return self.cell.hidden(new)[None], new


def make_cell(kind: str, input_size: int, hidden_size: int, config=None) -> RecurrentCell:
    if kind not in CELL_TYPES:
        raise ValueError(f"unknown cell {kind!r} (choose from {', '.join(CELL_TYPES)})")
    return CELL_TYPES[kind].from_config(input_size, hidden_size, config)


def make_layer(
    backend: str,
    kind: str,
    input_size: int,
    hidden_size: int,
    weight_drop: float = 0.0,
    config=None,
) -> RecurrentLayer:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")
    cell = make_cell(kind, input_size, hidden_size, config)
    return RecurrentLayer(cell, weight_drop, fused=backend == "fused")
