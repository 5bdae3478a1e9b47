"""Scoring many documents: each one on its own, from the model's start state, exactly as
`model.score(text)` scores it, but many at a time.

A document is a text closed by a line end (every tokenizer ends it with `<eos>`); its
figures are the sum of its tokens' natural-log probabilities (`logprob`, nats), the same in
bits (`bits`, the surprisal: -logprob / ln 2), perplexity per token, and bits per byte of
its UTF-8 text with the closing line end, as `seqlm eval` counts a file's bytes: the sums
over a file's lines give the file's bits per byte under an n-gram.

An n-gram restarts at every `<eos>`, so a batch of word-level documents is looked up as one
stream; a recurrent model reads a batch side by side, padded at the end (a padded position
is never read by an earlier one), each column from the start state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from seqlm.data.documents import Document
from seqlm.interface import LanguageModel

LN2 = math.log(2)
NEURAL_BATCH_TOKENS = 16_384  # a recurrent batch's padded size (tokens), its memory bound


@dataclass
class DocScore:
    """One document's figures; `logprob` in nats (natural log)."""

    line: int
    tokens: int
    bytes: int
    logprob: float
    oov: int = 0
    id: object = None

    @property
    def perplexity(self) -> float | None:
        if not self.tokens or not math.isfinite(self.logprob):
            return None
        return math.exp(min(-self.logprob / self.tokens, 700.0))

    @property
    def bits_per_byte(self) -> float | None:
        if not self.tokens or not math.isfinite(self.logprob):
            return None
        return -self.logprob / LN2 / self.bytes

    def to_json(self) -> dict:
        out = {} if self.id is None else {"id": self.id}
        finite = math.isfinite(self.logprob)
        out.update(
            line=self.line,
            tokens=self.tokens,
            bytes=self.bytes,
            logprob=self.logprob if finite else None,
            bits=-self.logprob / LN2 if finite else None,
            perplexity=self.perplexity,
            bits_per_byte=self.bits_per_byte,
            oov=self.oov,
        )
        return out


def text_bytes(text: str) -> int:
    """UTF-8 bytes of a document with its closing line end (as it is in a text file)."""
    return len(text.encode("utf-8")) + (not text.endswith("\n"))


def encode(model: LanguageModel, text: str) -> tuple[np.ndarray, int]:
    """The document's ids as `model.score` reads them, and how many are out of vocabulary."""
    tokens = model.tokenizer.encode(text)
    ids = model.vocab.encode(tokens)
    unk = getattr(model.vocab, "unk_id", None)
    oov = 0 if unk is None else sum(1 for t in tokens if t not in model.vocab.stoi)
    return ids, oov


def token_log_probs(model: LanguageModel, docs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """ln P of every token of each document, each read from the start state."""
    from seqlm.ngram.model import NgramLM

    if (
        isinstance(model, NgramLM)
        and model.eos >= 0
        and docs
        and all(d[-1] == model.eos for d in docs if len(d))
    ):
        whole = model.log_probs(np.concatenate(docs))
        return np.split(whole, np.cumsum([len(d) for d in docs])[:-1])
    if getattr(model, "start_token", None) is not None and hasattr(model, "target_log_probs"):
        return _recurrent(model, docs)
    return [np.asarray(model.log_probs(d), dtype=np.float64) for d in docs]


def _recurrent(model, docs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Side by side in batches of similar lengths (sorted, so little is padding)."""
    out: list[np.ndarray | None] = [None] * len(docs)
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
    group: list[int] = []
    for i in order:
        if not len(docs[i]):
            out[i] = np.zeros(0)
            continue
        if group and len(docs[i]) * (len(group) + 1) > NEURAL_BATCH_TOKENS:
            _recurrent_batch(model, docs, group, out)
            group = []
        group.append(i)
    if group:
        _recurrent_batch(model, docs, group, out)
    return out  # type: ignore[return-value]


def _recurrent_batch(model, docs, group: list[int], out: list) -> None:
    import torch

    from seqlm.nn.layers import evaluating

    length = max(len(docs[i]) for i in group)
    targets = np.full((length, len(group)), model.start_token, dtype=np.int64)
    for column, i in enumerate(group):
        targets[: len(docs[i]), column] = docs[i]
    with torch.inference_mode(), evaluating(model):
        t = torch.as_tensor(targets, device=model.device)
        inputs = torch.cat([t.new_full((1, len(group)), model.start_token), t[:-1]])
        features, _ = model.features(inputs)
        scores = model.target_log_probs(features, t).double().cpu().numpy()
    for column, i in enumerate(group):
        out[i] = scores[: len(docs[i]), column]


def score_texts(model: LanguageModel, texts: Sequence[str]) -> list[tuple[int, float, int]]:
    """(tokens, logprob in nats, out-of-vocabulary tokens) of each text."""
    encoded = [encode(model, text) for text in texts]
    scores = token_log_probs(model, [ids for ids, _ in encoded])
    return [
        (len(s), float(np.sum(s, dtype=np.float64)), oov)
        for s, (_, oov) in zip(scores, encoded, strict=True)
    ]


def score_documents(
    model: LanguageModel, documents: Iterable[Document], batch: int = 512
) -> Iterator[DocScore]:
    """Each document's `DocScore`, in order, `batch` documents at a time."""
    for docs in batched(documents, batch):
        yield from combine(docs, score_texts(model, [d.text for d in docs]))


def combine(docs: Sequence[Document], scores: Sequence[tuple[int, float, int]]) -> list[DocScore]:
    return [
        DocScore(d.line, n, text_bytes(d.text), lp, oov, d.id)
        for d, (n, lp, oov) in zip(docs, scores, strict=True)
    ]


def batched(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
