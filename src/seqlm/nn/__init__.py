"""Recurrent language models: cells from the equations, fused kernels, RecurrentLM."""

from seqlm.nn.cells import GATES, FusedLayer, RecurrentCell, ReferenceLayer
from seqlm.nn.config import CELLS, ModelConfig
from seqlm.nn.recurrent import RecurrentLM

__all__ = [
    "CELLS",
    "GATES",
    "FusedLayer",
    "ModelConfig",
    "RecurrentCell",
    "RecurrentLM",
    "ReferenceLayer",
]
