"""The interface every language model answers, n-gram or neural.

Evaluation, generation, comparison, the probes and the server only use these methods, so
they never ask which kind of model they hold. Log-probabilities are natural logs; a token
stream is a 1-D array of vocabulary ids in which `<eos>` ends each line (word level).

Two levels: the id-level methods a model implements (`log_probs`, `start`, `advance`,
`next_log_probs`, ...) and the text-level methods built on them here (`score`,
`perplexity`, `generate`, `next_tokens`), which tokenize exactly as the CLI does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqlm.data.text import EOS, tokenize
from seqlm.data.vocab import Vocab
from seqlm.io import SeqlmError


@dataclass
class TokenScores:
    """A text's tokens, each with ln P(token | everything before it)."""

    tokens: list[str]
    log_probs: np.ndarray  # natural log, one per token
    oov: list[bool]  # the token is not in the model's vocabulary (scored as <unk>)

    @property
    def nats_per_token(self) -> float:
        return float(-self.log_probs.mean()) if len(self.tokens) else float("nan")

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_token)

    @property
    def surprisal_bits(self) -> np.ndarray:
        return -self.log_probs / math.log(2)

    def to_json(self) -> dict:
        return {
            "tokens": self.tokens,
            "log_probs": self.log_probs.tolist(),
            "oov": self.oov,
            "perplexity": self.perplexity,
        }


class LanguageModel(ABC):
    vocab: Vocab
    kind: str  # "ngram", "rnn", "lstm", "gru"

    # -- what every model implements ----------------------------------------------------
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

    # -- optional capabilities, with what a model that lacks them does ------------------
    def score_windows(
        self, windows: list[np.ndarray], targets: np.ndarray, prefix: np.ndarray | None = None
    ) -> np.ndarray:
        """ln P(target | window) with nothing before each window (context probes);
        models that can batch this override it. `prefix`: a neutral text a recurrent model
        reads first, to start from a state it knows; a count model has no state and
        ignores it (its context is exactly the window)."""
        return np.array(
            [
                self.next_log_probs(self.context_state(w))[t]
                for w, t in zip(windows, targets, strict=True)
            ]
        )

    def set_generation_precision(self, precision: str) -> None:
        """'fp32' everywhere; neural models also offer 'bf16' weights for generation."""
        if precision != "fp32":
            raise SeqlmError(f"precision {precision} applies to neural models only")

    def gates(self, ids: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Per layer, every step's gate activations and cell state (LSTM only)."""
        raise SeqlmError(f"gate activations need an LSTM; this model is a {self.kind}")

    # -- text in, text out --------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """The CLI's tokenization: word level closes every line (and the text) with <eos>."""
        return tokenize(text, self.vocab.level)

    def score(self, text: str) -> TokenScores:
        """Every token of `text` with its log-probability given all the text before it."""
        tokens = self.tokenize(text)
        ids = self.vocab.encode(tokens)
        oov = [t not in self.vocab.stoi for t in tokens]
        return TokenScores(tokens, np.asarray(self.log_probs(ids), dtype=np.float64), oov)

    def perplexity(self, text: str) -> float:
        """exp(mean negative log-probability) over every token, <eos> included."""
        scores = self.score(text)
        if not scores.tokens:
            raise SeqlmError("cannot compute the perplexity of an empty text")
        return scores.perplexity

    def prompt_ids(self, prompt: str) -> np.ndarray:
        """A prompt continues its line: no <eos> unless it ends with a newline."""
        tokens = self.tokenize(prompt)
        if self.vocab.level == "word" and tokens and not prompt.endswith("\n"):
            tokens = tokens[:-1]
        return self.vocab.encode(tokens)

    def unknown_words(self, text: str) -> list[str]:
        """Tokens of `text` that the model will read as <unk>."""
        return sorted({t for t in self.tokenize(text) if t not in self.vocab.stoi})

    def next_tokens(self, prefix: str, k: int = 10) -> list[tuple[str, float]]:
        """The k most likely next tokens after `prefix`, with their probabilities."""
        log_probs = self.next_log_probs(self.start(self.prompt_ids(prefix)))
        top = np.argsort(-log_probs, kind="stable")[:k]
        return [(self.vocab.tokens[i], float(np.exp(log_probs[i]))) for i in top]

    def stream(
        self,
        prompt: str = "",
        max_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Sampled text, piece by piece, each piece ready to print after the previous."""
        from seqlm.generate import TextJoiner, sample

        joiner = TextJoiner(self.vocab.level, prompt)
        ids = sample(self, self.prompt_ids(prompt), max_tokens, temperature, top_k, top_p, seed)
        for token in ids:
            yield joiner.piece(self.vocab.tokens[token])

    def generate(
        self,
        prompt: str = "",
        max_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> str:
        """The continuation of `prompt` (without the prompt); the same seed, the same text."""
        return "".join(self.stream(prompt, max_tokens, temperature, top_k, top_p, seed))


__all__ = ["EOS", "LanguageModel", "TokenScores"]
