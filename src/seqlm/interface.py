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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqlm import checks
from seqlm.data.text import EOS
from seqlm.data.tokenizers import Tokenizer
from seqlm.data.vocab import Vocab
from seqlm.io import SeqlmError


@dataclass
class TokenScores:
    """A text's tokens, each with ln P(token | everything before it)."""

    tokens: list[str]
    log_probs: np.ndarray  # natural log, one per token
    oov: list[bool]  # the token is not in the model's vocabulary (scored as <unk>)
    # each token's (start, end) in the scored text: text[start:end] is the token's text
    spans: list[tuple[int, int]] = field(default_factory=list)

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
            "spans": [list(span) for span in self.spans],
            "perplexity": self.perplexity,
        }


class LanguageModel(ABC):
    vocab: Vocab
    kind: str  # "ngram", "rnn", "lstm", "gru"

    @property
    def tokenizer(self) -> Tokenizer:
        """How this model's text becomes tokens (`encode`) and back (`decode`)."""
        return self.vocab.tokenizer

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
    def tokenize(self, text: str | list[str] | tuple[str, ...]) -> list[str]:
        """The CLI's tokenization: word level closes every line (and the text) with <eos>.
        `text`: a string, or a list/tuple of sentences, each its own line."""
        return self.tokenizer.encode(checks.text(text))

    def score(self, text: str | list[str] | tuple[str, ...]) -> TokenScores:
        """Every token of `text` with its log-probability given all the text before it
        (a list/tuple of sentences is read as one text, a line each)."""
        text = checks.text(text)
        tokens = self.tokenizer.encode(text)
        ids = self.vocab.encode(tokens)
        oov = [t not in self.vocab.stoi for t in tokens]
        log_probs = np.asarray(self.log_probs(ids), dtype=np.float64)
        return TokenScores(tokens, log_probs, oov, self.tokenizer.spans(text, tokens))

    def perplexity(self, text: str | list[str] | tuple[str, ...]) -> float:
        """exp(mean negative log-probability) over every token, <eos> included; a
        list/tuple of sentences is read as one text, a line each."""
        scores = self.score(text)
        if not scores.tokens:
            raise SeqlmError("cannot compute the perplexity of an empty text")
        return scores.perplexity

    def prompt_ids(self, prompt: str) -> np.ndarray:
        """A prompt continues its line: no <eos> unless it ends with a newline."""
        tokens = self.tokenize(checks.string(prompt, "prompt"))
        if tokens and tokens[-1] == EOS and not prompt.endswith("\n"):
            tokens = tokens[:-1]
        return self.vocab.encode(tokens)

    def unknown_words(self, text: str | list[str] | tuple[str, ...]) -> list[str]:
        """Tokens of `text` that the model will read as <unk>."""
        return sorted({t for t in self.tokenize(text) if t not in self.vocab.stoi})

    def next_tokens(self, prefix: str, k: int = 10) -> list[tuple[str, float]]:
        """The k most likely next tokens after `prefix`, with their probabilities."""
        k = checks.integer(k, "k", low=1)
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
        """Sampled text, piece by piece, each piece ready to print after the previous
        (the arguments are checked at the call, not at the first piece)."""
        from seqlm.generate import TextJoiner, check_sampling, sample

        checks.string(prompt, "prompt")
        check_sampling(
            checks.integer(max_tokens, "max_tokens"),
            checks.number(temperature, "temperature"),
            checks.integer(top_k, "top_k", optional=True),
            checks.number(top_p, "top_p", optional=True),
            checks.integer(seed, "seed", optional=True),
        )

        joiner = TextJoiner(self.tokenizer, prompt)
        ids = sample(self, self.prompt_ids(prompt), max_tokens, temperature, top_k, top_p, seed)
        return joiner.pieces(self.vocab.tokens[token] for token in ids)

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
