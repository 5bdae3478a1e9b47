"""The one place a `--cell` becomes a model: a RecurrentLM, or a sibling class
(`MODEL_CLASSES`: the Transformer) that answers the same interface."""

from __future__ import annotations

import importlib

from seqlm.data.vocab import Vocab
from seqlm.nn.config import MODEL_CLASSES, ModelConfig
from seqlm.nn.recurrent import RecurrentLM


def model_class(cell: str) -> type:
    """The class `--cell cell` builds (imported on first use)."""
    if cell not in MODEL_CLASSES:
        return RecurrentLM
    module, name = MODEL_CLASSES[cell].split(":")
    return getattr(importlib.import_module(module), name)


def build_model(config: ModelConfig, vocab: Vocab, backend: str = "fused"):
    """An untrained model of `config` (its weights as the class constructs them: call
    `reset_parameters(seed)` for the deterministic initialisation)."""
    return model_class(config.cell)(config, vocab, backend)


def is_neural(model: object) -> bool:
    """A model built here (what export, `eval --cache` and the trainer accept)."""
    return isinstance(model, (RecurrentLM, *(model_class(c) for c in MODEL_CLASSES)))
