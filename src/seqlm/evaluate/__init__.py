"""Perplexity with one convention for every model: every predicted token counts.

A corpus split is one token stream; each model gives ln P(w_t | w_<t) for every token
(the n-gram restarts at each line as KenLM does; a recurrent model carries its state
across the whole split). Perplexity = exp(mean negative log-probability); bits per
character = mean / ln 2 for character-level models. When the model's vocabulary is not
the corpus's (an ARPA file from elsewhere), tokens are matched by their text and those
the model does not know become its `<unk>`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from seqlm.data.corpus import Corpus
from seqlm.interface import LanguageModel


def to_model_ids(model: LanguageModel, corpus: Corpus, split: str) -> np.ndarray:
    ids = np.asarray(corpus[split])
    if model.vocab.tokens == corpus.vocab.tokens:
        return ids
    if hasattr(model, "warn_unk_convention"):  # an ARPA from KenLM vs a corpus's <unk>
        model.warn_unk_convention(corpus.vocab, ids)
    table = model.vocab.encode(corpus.vocab.tokens)
    return table[ids]


@dataclass
class EvalResult:
    """A model's figures on one split, as `seqlm eval` prints them."""

    corpus: str
    split: str
    model: str
    tokens: int
    nats_per_token: float | None  # None: some token has probability 0
    perplexity: float | None
    zero_probability_tokens: int
    bits_per_char: float | None = None  # character-level corpora
    entropy_floor_nats: float | None = None  # the synthetic corpus only
    floor_perplexity: float | None = None
    gap_nats: float | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k in _ALWAYS}


_ALWAYS = {"nats_per_token", "perplexity"}


def summarize(log_probs: np.ndarray, level: str) -> dict:
    """Perplexity and friends from per-token natural-log probabilities."""
    zero = int(np.count_nonzero(~np.isfinite(log_probs)))
    nats = float(-log_probs.mean()) if len(log_probs) else float("nan")
    out = {
        "tokens": int(len(log_probs)),
        "nats_per_token": round(nats, 6) if not zero else None,
        "perplexity": round(math.exp(min(nats, 700.0)), 4) if not zero else None,
        "zero_probability_tokens": zero,
    }
    if level == "char" and not zero:
        out["bits_per_char"] = round(nats / math.log(2), 6)
    return out


def evaluate(
    model: LanguageModel, corpus: Corpus, split: str = "test", log_probs: np.ndarray | None = None
) -> EvalResult:
    """Scores `split`; on the synthetic corpus also the entropy floor and the gap to it.
    `log_probs`: the split's per-token scores, if already computed."""
    if log_probs is None:
        log_probs = model.log_probs(to_model_ids(model, corpus, split))
    result = EvalResult(corpus.name, split, model.kind, **summarize(log_probs, corpus.level))
    floor = corpus.entropy_floor(split)
    if floor is not None:
        result.entropy_floor_nats = round(floor, 6)
        result.floor_perplexity = round(math.exp(floor), 4)
        if result.nats_per_token is not None:
            result.gap_nats = round(result.nats_per_token - floor, 6)
    return result
