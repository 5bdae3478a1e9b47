"""Recurrent language models: cells from the equations, fused kernels, RecurrentLM."""

from seqlm.lazy import lazy_exports

_NAMES = {
    "GATES": "seqlm.nn.cells",
    "FusedLayer": "seqlm.nn.cells",
    "RecurrentCell": "seqlm.nn.cells",
    "ReferenceLayer": "seqlm.nn.cells",
    "CELLS": "seqlm.nn.config",
    "ModelConfig": "seqlm.nn.config",
    "RecurrentLM": "seqlm.nn.recurrent",
}
__all__ = sorted(_NAMES)
__getattr__ = lazy_exports(__name__, _NAMES)
