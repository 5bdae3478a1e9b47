"""The interface every language model answers, n-gram or neural.

Evaluation, generation, comparison and the probes only use these methods, so they never
ask which kind of model they hold. Log-probabilities are natural logs; a token stream is
a 1-D array of vocabulary ids in which `<eos>` ends each line (word level).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from seqlm.data.vocab import Vocab


class LanguageModel(ABC):
    vocab: Vocab
    kind: str  # "ngram", "rnn", "lstm", "gru"

    @abstractmethod
    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        """ln P(w_t | w_<t) for every token of the stream (the first given the start state)."""

    @abstractmethod
    def start(self, prompt: np.ndarray | None = None) -> Any:
        """A state that has read `prompt` (ids), ready to predict the next token."""

    @abstractmethod
    def next_log_probs(self, state: Any) -> np.ndarray:
        """ln P(next token | state) over the whole vocabulary (sums to 1 in probability)."""

    @abstractmethod
    def advance(self, state: Any, token: int) -> Any:
        """The state after reading `token`."""

    @abstractmethod
    def context_state(self, window: np.ndarray) -> Any:
        """A state that has seen exactly `window` and nothing before it (context probes)."""

    @abstractmethod
    def num_parameters(self) -> int:
        """Trainable numbers (n-grams: stored probabilities and backoffs)."""
