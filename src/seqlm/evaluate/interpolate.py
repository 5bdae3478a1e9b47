"""Linear interpolation of two language models: P = (1 − λ) P_a + λ P_b.

The classic way to combine a neural model with an n-gram (Mikolov 2011): the n-gram is
sharp on frequent local patterns, the recurrent model on long context; their errors
differ, so the mixture beats both. λ is chosen on validation, never on test. Both models
must share the vocabulary (same tokens in the same order), so the sum stays a
distribution over it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from seqlm.evaluate.cache import mix
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError

GRID = tuple(round(x, 2) for x in np.arange(0.0, 1.0001, 0.05))


def best_weight(log_a: np.ndarray, log_b: np.ndarray, grid=GRID) -> tuple[float, float]:
    """(λ, mean nats) minimising the mixture's loss over `grid` (run on validation)."""
    losses = [float(-mix(log_a, log_b, w).mean()) for w in grid]
    best = int(np.argmin(losses))
    return float(grid[best]), losses[best]


class InterpolatedLM(LanguageModel):
    """(1 − weight) × first + weight × second, itself a `LanguageModel`."""

    def __init__(self, first: LanguageModel, second: LanguageModel, weight: float):
        if first.vocab.tokens != second.vocab.tokens:
            raise SeqlmError("interpolated models must share one vocabulary")
        if not 0 <= weight <= 1:
            raise SeqlmError(f"interpolation weight must lie in [0, 1], got {weight}")
        self.first, self.second, self.weight = first, second, weight
        self.vocab, self.kind = first.vocab, f"{first.kind}+{second.kind}"

    def _mix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.weight == 1:
            return np.asarray(b, dtype=np.float64)
        return mix(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), self.weight)

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        return self._mix(self.first.log_probs(ids), self.second.log_probs(ids))

    def start(self, prompt: np.ndarray | None = None):
        return (self.first.start(prompt), self.second.start(prompt))

    def context_state(self, window: np.ndarray):
        return (self.first.context_state(window), self.second.context_state(window))

    def next_log_probs(self, state) -> np.ndarray:
        return self._mix(self.first.next_log_probs(state[0]), self.second.next_log_probs(state[1]))

    def advance(self, state, token: int):
        return (self.first.advance(state[0], token), self.second.advance(state[1], token))

    def num_parameters(self) -> int:
        return self.first.num_parameters() + self.second.num_parameters()


def load_mixture(
    directory: Path, config: dict, load: Callable[[Path], LanguageModel]
) -> InterpolatedLM:
    """The mixture in `directory` (`load` opens each part, relative to the directory)."""
    parts = config.get("parts")
    weight = config.get("weight")
    if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts)):
        raise SeqlmError(f"{directory}/config.json: a mixture needs two parts")
    if not isinstance(weight, int | float):
        raise SeqlmError(f"{directory}/config.json: a mixture needs a weight")
    first, second = (load(directory / p) for p in parts)
    mixture = InterpolatedLM(first, second, float(weight))
    mixture.kind = "mixture"
    mixture.info = config
    return mixture
