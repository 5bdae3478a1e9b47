"""Perplexity with one convention for every model: every predicted token counts.

A corpus split is one token stream; each model gives ln P(w_t | w_<t) for every token
(the n-gram restarts at each line as KenLM does; a recurrent model carries its state
across the whole split). Perplexity = exp(mean negative log-probability); bits per
character = mean / ln 2 for character-level models. When the model's vocabulary is not
the corpus's (an ARPA file from elsewhere), tokens are matched by their text and those
the model does not know become its `<unk>`.

Perplexity per token depends on the tokenizer, so every result also measures the split's
original text (`seqlm.data.sizes`): bits per byte = total nats / ln 2 / UTF-8 bytes, and
perplexity per word = exp(total nats / words), comparable across tokenizers. A model that
reads some tokens as `<unk>` predicts one symbol for many words, which flatters it:
`unk_share` says how much of the split it scored that way.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from seqlm.data.corpus import Corpus, load_corpus
from seqlm.data.spec import CorpusSpec
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
    bits_per_byte: float | None = None  # None: the corpus does not know its text's size
    perplexity_per_word: float | None = None
    unk_share: float = 0.0  # fraction of the scored tokens that are the model's <unk>
    text_bytes: int | None = None  # the split's original text: UTF-8 bytes, words
    words: int | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k in _ALWAYS}

    def text_line(self) -> str:
        """The figures comparable across tokenizers, as `seqlm eval` and `train` print them."""
        if self.bits_per_byte is None:
            line = "bits per byte unknown (the corpus does not record its text's size)"
        else:
            line = (
                f"{self.bits_per_byte:.4f} bits/byte, perplexity per word "
                f"{self.perplexity_per_word:.2f}"
            )
        if self.unk_share:
            line += f"; {self.unk_share:.2%} of the tokens are <unk> (an optimistic score)"
        return line


_ALWAYS = {"nats_per_token", "perplexity", "bits_per_byte", "perplexity_per_word"}


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


def text_figures(log_probs: np.ndarray, text_bytes: int | None, words: int | None) -> dict:
    """Bits per byte and perplexity per word of a split from its per-token scores and its
    text's size; None where the size is unknown or some token has probability 0."""
    total = float(-np.sum(log_probs, dtype=np.float64))
    finite = math.isfinite(total) and len(log_probs) > 0
    return {
        "bits_per_byte": round(total / math.log(2) / text_bytes, 6)
        if finite and text_bytes
        else None,
        "perplexity_per_word": round(math.exp(min(total / words, 700.0)), 4)
        if finite and words
        else None,
        "text_bytes": text_bytes,
        "words": words,
    }


def unk_share(model: LanguageModel, corpus: Corpus, split: str) -> float:
    """The fraction of the split's tokens that the model reads as its `<unk>`."""
    ids = np.asarray(corpus[split])
    unk = getattr(model.vocab, "unk_id", None)
    if unk is None or len(ids) == 0:
        return 0.0
    if model.vocab.tokens != corpus.vocab.tokens:  # matched by text, as `to_model_ids` does
        ids = model.vocab.encode(corpus.vocab.tokens)[ids]
    return round(float(np.count_nonzero(ids == unk)) / len(ids), 6)


def evaluate(
    model: LanguageModel | str | os.PathLike,
    corpus: Corpus | CorpusSpec | str | os.PathLike,
    split: str = "test",
    log_probs: np.ndarray | None = None,
) -> EvalResult:
    """Scores `split`; on the synthetic corpus also the entropy floor and the gap to it.
    `model`: a model or the path of a saved one; `corpus`: a loaded corpus, or what
    `load_corpus` accepts (tokenized as the model was, see `corpus_for`).
    `log_probs`: the split's per-token scores, if already computed."""
    path = None
    if isinstance(model, str | os.PathLike):
        from seqlm.loading import load

        path, model = model, load(model)
    if not isinstance(model, LanguageModel):
        raise TypeError(
            f"evaluate() takes a model (seqlm.load(...)) or a model path, not "
            f"{type(model).__name__}"
        )
    corpus = corpus_for(model, corpus, path)
    if not isinstance(split, str):
        raise TypeError(
            f"split must be a string (train, valid or test), not {type(split).__name__}"
        )
    if log_probs is None:
        log_probs = model.log_probs(to_model_ids(model, corpus, split))
    result = EvalResult(corpus.name, split, model.kind, **summarize(log_probs, corpus.level))
    for key, value in text_figures(
        log_probs, corpus.text_bytes.get(split), corpus.words.get(split)
    ).items():
        setattr(result, key, value)
    result.unk_share = unk_share(model, corpus, split)
    floor = corpus.entropy_floor(split)
    if floor is not None:
        result.entropy_floor_nats = round(floor, 6)
        result.floor_perplexity = round(math.exp(floor), 4)
        if result.nats_per_token is not None:
            result.gap_nats = round(result.nats_per_token - floor, 6)
    return result


def corpus_for(
    model: LanguageModel,
    corpus: Corpus | CorpusSpec | str | os.PathLike,
    model_path: str | os.PathLike | None = None,
) -> Corpus:
    """`corpus` loaded with the model's tokenizer where it does not say otherwise; a model
    given by its path also brings the rest of its recorded settings for the same source
    (vocabulary limits, a single file's split fractions)."""
    if isinstance(corpus, Corpus):
        return corpus
    if isinstance(corpus, os.PathLike):
        corpus = os.fspath(corpus)
    if isinstance(corpus, str):
        trained = None
        if model_path is not None:
            from seqlm.loading import trained_on

            trained = trained_on(model_path)
        same = trained is not None and _same_source(trained.source, corpus)
        corpus = replace(trained, source=corpus) if same else CorpusSpec(corpus)
    if not isinstance(corpus, CorpusSpec):
        raise TypeError(
            "corpus must be a Corpus, a CorpusSpec or a string (a directory, a text file, a "
            f"dataset name or synthetic[:k=v]), not {type(corpus).__name__}"
        )
    name = getattr(model.vocab, "tokenizer_name", None)
    if "tokenizer" in {f.name for f in fields(corpus)}:  # a spec that names its tokenizer
        if name and corpus.tokenizer is None and corpus.level is None:
            corpus = replace(corpus, tokenizer=name)
    elif corpus.level is None:
        corpus = corpus.with_level(model.vocab.level)
    return load_corpus(corpus)


def _same_source(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return False
