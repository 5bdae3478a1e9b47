"""The n-gram language model: train, score, predict, save and load.

Scoring follows KenLM's `query`: each line is scored on its own, starting after `<s>`,
and `</s>` (our `<eos>`) is predicted and counted. A token's probability comes from the
longest n-gram in the model that ends with it, times the backoffs of the longer
histories that were not found: log p(w | h) = log P(h_k w) + Σ_{m ≥ k} log b(h_m).
All tokens of a file are looked up together, one order at a time (vectorised).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqlm import __version__
from seqlm.data.text import EOS, UNK
from seqlm.data.vocab import Vocab
from seqlm.errors import SeqlmError
from seqlm.interface import LanguageModel
from seqlm.ngram.arpa import BOS, read_arpa, write_arpa
from seqlm.ngram.arpa import EOS as ARPA_EOS
from seqlm.ngram.counts import count_ngrams, kenlm_flushed, sentence_positions
from seqlm.ngram.smoothing import SMOOTHINGS, NgramTables, estimate

LN10 = math.log(10)
MAX_ORDER = 10
FORMAT_VERSION = 1


@dataclass
class NgramLM(LanguageModel):
    vocab: Vocab  # ids 0..V-1; id V is <s>
    tables: NgramTables
    smoothing: str = "arpa"
    info: dict = field(default_factory=dict)
    kind: str = "ngram"

    def __post_init__(self) -> None:
        if self.tables.base != len(self.vocab) + 1:
            raise SeqlmError("n-gram tables do not match the vocabulary")
        self.eos = self.vocab.stoi.get(EOS, -1) if self.vocab.level == "word" else -1
        self.bos = len(self.vocab)

    @property
    def order(self) -> int:
        return self.tables.order

    # -- training -----------------------------------------------------------------------
    @classmethod
    def train(
        cls, ids: np.ndarray, vocab: Vocab, order: int, smoothing: str = "mkn", k: float = 1.0
    ) -> NgramLM:
        if not 1 <= order <= MAX_ORDER:
            raise SeqlmError(f"n-gram order must be between 1 and {MAX_ORDER}, got {order}")
        if len(ids) == 0:
            raise SeqlmError("cannot train an n-gram model on an empty corpus")
        if smoothing not in SMOOTHINGS:
            raise SeqlmError(
                f"unknown smoothing {smoothing!r} (choose from {', '.join(SMOOTHINGS)})"
            )
        eos = vocab.stoi.get(EOS, -1) if vocab.level == "word" else -1
        counts = count_ngrams(ids, order, eos=eos, bos=len(vocab))
        # PTB's <unk> is a word; KenLM still keeps a share for truly unseen words: so do we
        open_vocabulary = bool(counts[0].raw[vocab.unk_id] > 0)
        first_seen = _first_seen(ids, len(vocab), eos)
        unstated = kenlm_flushed(counts, first_seen) if smoothing == "mkn" else None
        tables = estimate(counts, smoothing, k, open_vocabulary, unstated)
        info = {
            "ngrams": [len(c.keys) for c in counts],
            "k": k if smoothing == "add-k" else None,
            "open_vocabulary": open_vocabulary,
        }
        return cls(vocab, tables, smoothing, info)

    # -- scoring ------------------------------------------------------------------------
    def _lookup(self, tokens: np.ndarray, position: np.ndarray) -> list[np.ndarray]:
        """Index of the n-gram of each order ending at each position (-1: not in the model)."""
        t, base = self.tables, self.tables.base
        found = [tokens.copy()]
        for n in range(2, self.order + 1):
            index = np.full(len(tokens), -1, dtype=np.int64)
            prev = np.concatenate([[-1], found[-1][:-1]])
            cand = np.flatnonzero((prev >= 0) & (position + 2 >= n) & (tokens != self.bos))
            if len(cand):
                wanted = prev[cand] * base + tokens[cand]
                at = np.minimum(np.searchsorted(t.keys[n - 1], wanted), len(t.keys[n - 1]) - 1)
                hit = t.keys[n - 1][at] == wanted
                index[cand[hit]] = at[hit]
            found.append(index)
        return found

    def log10_probs(self, ids: np.ndarray) -> np.ndarray:
        """log10 P of each token, KenLM's convention (one sentence per line)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise SeqlmError("token ids outside the model's vocabulary")
        pos = sentence_positions(ids, self.eos, self.bos)
        found = self._lookup(pos.tokens, pos.position)
        targets = pos.targets
        result = np.zeros(len(targets))
        matched = np.zeros(len(targets), dtype=np.int64)
        for n in range(self.order, 0, -1):
            index = found[n - 1][targets]
            take = (matched == 0) & (index >= 0)
            result[take] = self.tables.log10_prob[n - 1][index[take]]
            matched[take] = n
        for m in range(1, self.order):  # backoffs of the histories longer than the match
            context = found[m - 1][targets - 1]
            use = (context >= 0) & (m >= matched)
            result[use] += self.tables.log10_backoff[m - 1][context[use]]
        return result

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        return self.log10_probs(ids) * LN10

    # -- incremental interface ----------------------------------------------------------
    def start(self, prompt: np.ndarray | None = None) -> tuple[int, ...]:
        state: tuple[int, ...] = (self.bos,)
        for token in [] if prompt is None else np.asarray(prompt).tolist():
            state = self.advance(state, int(token))
        return state

    def context_state(self, window: np.ndarray) -> tuple[int, ...]:
        window = np.asarray(window).tolist()
        if self.eos in window:  # the sentence start is visible: restart from <s>
            cut = len(window) - window[::-1].index(self.eos)
            return self.start(np.asarray(window[cut:], dtype=np.int64))
        return tuple(window[-(self.order - 1) :]) if self.order > 1 and window else ()

    def advance(self, state: tuple[int, ...], token: int) -> tuple[int, ...]:
        if token == self.eos:
            return (self.bos,)
        return (*state, token)[-(self.order - 1) :] if self.order > 1 else ()

    def next_log_probs(self, state: tuple[int, ...]) -> np.ndarray:
        t, base, V = self.tables, self.tables.base, len(self.vocab)
        contexts = []  # index of the m-gram made of the last m tokens of the state
        for m in range(1, len(state) + 1):
            index = state[-m]
            for j in range(m - 1, 0, -1):
                wanted = index * base + state[-j]
                at = int(np.searchsorted(t.keys[m - j], wanted))
                if at >= len(t.keys[m - j]) or t.keys[m - j][at] != wanted:
                    index = -1
                    break
                index = at
            contexts.append(index)
        result = t.log10_prob[0][:V].copy()
        matched = np.ones(V, dtype=np.int64)
        for n in range(2, len(contexts) + 2):
            ctx = contexts[n - 2]
            if ctx < 0:
                break  # a longer history cannot be in the model if this one is not
            # the n-grams that continue this history are one sorted run of keys
            keys = t.keys[n - 1]
            lo, hi = np.searchsorted(keys, [ctx * base, (ctx + 1) * base])
            hit = keys[lo:hi] - ctx * base
            inside = hit < V
            result[hit[inside]] = t.log10_prob[n - 1][lo:hi][inside]
            matched[hit[inside]] = n
        for m, ctx in enumerate(contexts, 1):
            if ctx >= 0 and m < self.order:
                use = m >= matched
                result[use] += t.log10_backoff[m - 1][ctx]
        return result * LN10

    def num_parameters(self) -> int:
        return int(sum(map(len, self.tables.keys)) + sum(map(len, self.tables.keys[:-1])))

    # -- files --------------------------------------------------------------------------
    def arpa_words(self) -> list[str]:
        return [ARPA_EOS if w == EOS and self.eos >= 0 else w for w in self.vocab.tokens] + [BOS]

    def save(self, directory: str | os.PathLike, extra: dict | None = None) -> Path:
        from seqlm.io import atomic_write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_arpa(self.tables, self.arpa_words(), directory / "model.arpa")
        self.vocab.save(directory / "vocab.json")
        config = {
            "kind": "ngram",
            "format_version": FORMAT_VERSION,
            "seqlm_version": __version__,
            "order": self.order,
            "smoothing": self.smoothing,
            "level": self.vocab.level,
            **self.info,
            **(extra or {}),
        }
        atomic_write_text(directory / "config.json", json.dumps(config, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> NgramLM:
        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text())
        if config.get("format_version", 0) > FORMAT_VERSION:
            raise SeqlmError(
                f"{directory}: written by a newer seqlm (format {config['format_version']})"
            )
        vocab = Vocab.load(directory / "vocab.json")
        model = cls.from_arpa(directory / "model.arpa", level=vocab.level)
        if model.vocab.tokens != vocab.tokens:
            raise SeqlmError(f"{directory}: vocab.json does not match model.arpa")
        model.vocab, model.smoothing = vocab, config.get("smoothing", "arpa")
        model.info = {k: v for k, v in config.items() if k not in ("kind", "format_version")}
        return model

    @classmethod
    def from_arpa(cls, path: str | os.PathLike, level: str = "word") -> NgramLM:
        """Any ARPA file (KenLM, SRILM, ...): its unigrams become the vocabulary."""
        words, tables = read_arpa(path)
        tokens = [EOS if w == ARPA_EOS else w for w in words[:-1]]
        if UNK not in tokens:  # a closed-vocabulary model: <unk> gets probability 0
            tokens.append(UNK)
            tables = _append_unigram(tables)
        return cls(Vocab(tokens, level=level), tables, "arpa", {"source": str(path)})

    def encode(self, tokens: list[str]) -> np.ndarray:
        return self.vocab.encode(tokens)


def _first_seen(ids: np.ndarray, bos: int, eos: int) -> np.ndarray:
    """Rank of each id by first appearance, as lmplz numbers words (<s>, </s> first)."""
    rank = np.full(bos + 1, len(ids) + 3, dtype=np.int64)
    seen, first = np.unique(np.asarray(ids), return_index=True)
    rank[seen] = first + 3
    rank[bos] = 1
    if eos >= 0:
        rank[eos] = 2
    return rank


def _append_unigram(tables: NgramTables) -> NgramTables:
    """Add one id just before <s> (which must stay last), re-packing the keys."""
    old, new = tables.base, tables.base + 1

    def remap(ids: np.ndarray) -> np.ndarray:
        return np.where(ids == old - 1, new - 1, ids)

    keys = [np.arange(new, dtype=np.int64)]
    for n, k in enumerate(tables.keys[1:], 2):  # order 2's prefix is a word id, too
        prefix = remap(k // old) if n == 2 else k // old
        keys.append(prefix * new + remap(k % old))
    prob0 = np.insert(tables.log10_prob[0], old - 1, -np.inf)
    back0 = np.insert(tables.log10_backoff[0], old - 1, 0.0)
    return NgramTables(new, keys, [prob0, *tables.log10_prob[1:]],
                       [back0, *tables.log10_backoff[1:]])  # fmt: skip
