"""Recurrent language models: cells from the equations, fused kernels, RecurrentLM."""

import importlib

_NAMES = {
    "GATES": "seqlm.nn.layers",
    "CELL_TYPES": "seqlm.nn.layers",
    "ElmanCell": "seqlm.nn.cells",
    "GRUCell": "seqlm.nn.cells",
    "LSTMCell": "seqlm.nn.cells",
    "MinGRUCell": "seqlm.nn.minimal",
    "MinLSTMCell": "seqlm.nn.minimal",
    "MogrifierCell": "seqlm.nn.mogrifier",
    "RecurrentCell": "seqlm.nn.cells",
    "RecurrentLayer": "seqlm.nn.layers",
    "evaluating": "seqlm.nn.layers",
    "CELLS": "seqlm.nn.config",
    "ModelConfig": "seqlm.nn.config",
    "RecurrentLM": "seqlm.nn.recurrent",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> object:
    """Each name imported from its module on first use, so that importing the package
    does not load torch."""
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
