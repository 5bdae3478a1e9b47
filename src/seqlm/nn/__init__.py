"""Recurrent language models: cells from the equations, fused kernels, RecurrentLM."""

from seqlm.nn.cells import GATES, FusedLayer, RecurrentCell, ReferenceLayer
from seqlm.nn.model import ModelConfig, RecurrentLM

__all__ = ["GATES", "FusedLayer", "ModelConfig", "RecurrentCell", "RecurrentLM", "ReferenceLayer"]
