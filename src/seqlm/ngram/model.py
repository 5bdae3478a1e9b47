"""The n-gram language model: train, score, predict, save and load.

Scoring follows KenLM's `query`: each line is scored on its own, starting after `<s>`,
and `</s>` (our `<eos>`) is predicted and counted. A token's probability comes from the
longest n-gram in the model that ends with it, times the backoffs of the longer
histories that were not found: log p(w | h) = log P(h_k w) + Σ_{m ≥ k} log b(h_m).
All tokens of a file are looked up together, one order at a time (vectorised), or by
the compiled kernels of `fast.py` (Numba, when installed) with the same results.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np

from seqlm import manifest
from seqlm.data.text import EOS, UNK
from seqlm.data.vocab import Vocab
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError
from seqlm.ngram import fast
from seqlm.ngram.arpa import BOS, read_arpa, write_arpa
from seqlm.ngram.arpa import EOS as ARPA_EOS
from seqlm.ngram.binary import STORAGE_KEYS, load_tables, save_probing, save_tables
from seqlm.ngram.counts import count_ngrams, find_keys, kenlm_flushed, sentence_positions
from seqlm.ngram.external import (
    IN_MEMORY_BYTES_PER_TOKEN_ORDER,
    count_ngrams_bounded,
    default_memory,
    first_seen_bounded,
    spill_directory,
)
from seqlm.ngram.prune import thresholds
from seqlm.ngram.smoothing import DEFAULT_SMOOTHING, SMOOTHINGS, NgramTables, estimate
from seqlm.ngram.stream_estimate import estimate_streaming

LN10 = math.log(10)
MAX_ORDER = 10
FORMAT_VERSION = 2  # 1: model.arpa only; 2: memory-mapped arrays (binary.py)


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
        self.eos = self.vocab.sentence_end()
        self.bos = len(self.vocab)

    @property
    def order(self) -> int:
        return self.tables.order

    # -- training -----------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        ids: np.ndarray,
        vocab: Vocab,
        order: int,
        smoothing: str = DEFAULT_SMOOTHING,
        k: float = 1.0,
        memory: int | None = None,
        workers: int | None = None,
        workdir: str | os.PathLike | None = None,
        prune: list[int] | None = None,
    ) -> NgramLM:
        """Count and smooth; `prune`: lmplz's --prune thresholds per order (`prune.py`).
        `memory` (bytes; default a quarter of RAM): when the in-memory path (~70 bytes
        per token and order) would not fit, count in chunks that do, spilling
        sorted runs to a temporary directory under `workdir` (`external.py`); `workers`
        processes count chunks in parallel (default: up to 2). Same result either way."""
        if not 1 <= order <= MAX_ORDER:
            raise SeqlmError(f"n-gram order must be between 1 and {MAX_ORDER}, got {order}")
        if len(ids) == 0:
            raise SeqlmError("cannot train an n-gram model on an empty corpus")
        if smoothing not in SMOOTHINGS:
            raise SeqlmError(
                f"unknown smoothing {smoothing!r} (choose from {', '.join(SMOOTHINGS)})"
            )
        prune = thresholds(prune, order)
        budget = default_memory() if memory is None else int(memory)
        if len(ids) * IN_MEMORY_BYTES_PER_TOKEN_ORDER * order <= budget:
            return cls._train(ids, vocab, order, smoothing, k, None, prune)
        # the tables are mapped from files in `work`, which lives as long as the model
        work = spill_directory(workdir)
        try:
            model = cls._train(ids, vocab, order, smoothing, k, (budget, workers, work.name), prune)
        except BaseException:
            work.cleanup()
            raise
        for name in ("raw", "suffix", "bos_initial"):  # counts no longer needed
            for path in Path(work.name).glob(f"order*.{name}.bin"):
                path.unlink()
        model._workdir = work  # removed when the model is garbage-collected
        return model

    @classmethod
    def _train(cls, ids, vocab: Vocab, order: int, smoothing: str, k: float, bounded, prune):
        eos = vocab.sentence_end()
        if bounded is None:
            counts = count_ngrams(ids, order, eos=eos, bos=len(vocab))
            first_seen = _first_seen(ids, len(vocab), eos)
        else:
            budget, workers, work = bounded
            counts = count_ngrams_bounded(ids, order, eos, len(vocab), budget, work, workers)
            chunk = max(1 << 16, budget // 64)
            first_seen = first_seen_bounded(ids, len(vocab), eos, chunk)
        # PTB's <unk> is a word; KenLM still keeps a share for truly unseen words: so do we
        open_vocabulary = bool(counts[0].raw[vocab.unk_id] > 0)
        flushed = kenlm_flushed(counts, first_seen) if smoothing == "mkn" else None
        if bounded is not None and smoothing in ("mkn", "kn"):
            tables = estimate_streaming(
                counts, smoothing, open_vocabulary, flushed, prune, bounded[2], bounded[0] // 4
            )
        else:
            tables = estimate(counts, smoothing, k, open_vocabulary, flushed, prune)
        info = {
            "ngrams": [len(keys) for keys in tables.keys],
            "k": k if smoothing == "add-k" else None,
            "open_vocabulary": open_vocabulary,
            "discounts": tables.discounts or None,
            "prune": prune,
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
                fence = t.fences[n - 1] if t.fences else None
                index[cand] = find_keys(t.keys[n - 1], prev[cand] * base + tokens[cand], fence)
            found.append(index)
        return found

    def log10_probs(self, ids: np.ndarray) -> np.ndarray:
        """log10 P of each token, KenLM's convention (one sentence per line)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise SeqlmError("token ids outside the model's vocabulary")
        if fast.enabled():  # compiled (fast.py); the same numbers as the NumPy path below
            return fast.stream_log10(self.tables, ids, self.eos)
        pos = sentence_positions(ids, self.eos, self.bos)
        return self.score_positions(pos.tokens, pos.position, pos.targets)[0]

    def score_positions(
        self, tokens: np.ndarray, position: np.ndarray, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(log10 p, length of the n-gram matched) of `tokens[targets]`; `position[i]` is
        the number of tokens before i its history may use minus one (-1: none, or `<s>`)."""
        found = self._lookup(tokens, position)
        result = np.zeros(len(targets))
        matched = np.zeros(len(targets), dtype=np.int64)
        for n in range(self.order, 0, -1):
            index = found[n - 1][targets]
            take = (matched == 0) & (index >= 0)
            result[take] = self.tables.log10_prob[n - 1][index[take]]
            matched[take] = n
        before = np.maximum(targets - 1, 0)
        for m in range(1, self.order):  # backoffs of the histories longer than the match
            context = np.where(targets > 0, found[m - 1][before], -1)
            use = (context >= 0) & (m >= matched)
            result[use] += self.tables.log10_backoff[m - 1][context[use]]
        return result, matched

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
        result = t.log10_prob[0][:V].astype(np.float64)
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

    def write_arpa(self, path: str | os.PathLike) -> Path:
        """The model as an ARPA file (`.gz`: compressed), for KenLM, SRILM, ASR toolkits."""
        write_arpa(self.tables, self.arpa_words(), path)
        return Path(path)

    def save(
        self,
        directory: str | os.PathLike,
        extra: dict | None = None,
        arpa: bool = False,
        quantize: int | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the binary form (memory-mapped arrays, `binary.py`), vocab.json, config.json
        (`arpa=True`: model.arpa too; `quantize=8`: 8-bit values) via `new_model_dir`: a
        model there is replaced only with `overwrite=True`, once the new one is complete."""
        from seqlm.io import atomic_write_text
        from seqlm.modeldir import new_model_dir

        directory = Path(directory)
        with new_model_dir(directory, overwrite) as tmp:
            storage = save_tables(self.tables, tmp, quantize)
            if arpa:
                self.write_arpa(tmp / "model.arpa")
            self.vocab.save(tmp / "vocab.json")
            config = self._config(extra, arpa, storage)
            config.update(save_probing(tmp, config, len(self.vocab) + 1))
            atomic_write_text(tmp / "config.json", json.dumps(config, indent=2))
            manifest.write_manifest(tmp)  # last: it lists every file above
        return directory

    def _config(self, extra: dict | None, arpa: bool, storage: dict) -> dict:
        return {
            "kind": "ngram",
            "format_version": FORMAT_VERSION,
            "seqlm_version": package_version("seqlm"),
            "order": self.order,
            "smoothing": self.smoothing,
            "level": self.vocab.level,
            "tokenizer": self.vocab.tokenizer_name,
            **{k: v for k, v in self.info.items() if k not in STORAGE_KEYS},
            **(extra or {}),
            **storage,
            "with_arpa": arpa,  # model.arpa beside the arrays
        }

    @classmethod
    def load(cls, directory: str | os.PathLike, mmap: bool = True, verify: bool = False) -> NgramLM:
        """A model directory: the binary form (mapped: pages load as scoring needs them;
        `mmap=False` reads them into memory) or, from seqlm before format 2, model.arpa;
        checked (`seqlm.manifest`, `checks.py`; `verify`: every digest and entry)."""
        from seqlm.modeldir import read_config

        directory = Path(directory)
        config = read_config(directory)
        manifest.check(directory, full=verify)
        vocab = Vocab.load(directory / "vocab.json")
        if config.get("storage") == "npy":
            tables = load_tables(directory, config, len(vocab) + 1, mmap, verify)
            model = cls(vocab, tables)
        else:
            model = cls.from_arpa(directory / "model.arpa", level=vocab.level)
            if model.vocab.tokens != vocab.tokens:
                raise SeqlmError(f"{directory}: vocab.json does not match model.arpa")
            model.vocab = vocab
        model.smoothing = config.get("smoothing", "arpa")
        model.info = {k: v for k, v in config.items() if k not in ("kind", "format_version")}
        return model

    @classmethod
    def from_arpa(cls, path: str | os.PathLike, level: str = "word") -> NgramLM:
        """Any ARPA file (KenLM, SRILM, ...): its unigrams become the vocabulary."""
        words, tables = read_arpa(path)
        tokens = [EOS if w == ARPA_EOS else w for w in words[:-1]]
        oov_entry = _unk_is_oov_entry(tables, tokens)
        if UNK not in tokens:  # a closed-vocabulary model: <unk> gets probability 0
            tokens.append(UNK)
            tables = _append_unigram(tables)
        info = {"source": str(path), "ngrams": [len(k) for k in tables.keys]}
        info["unk_is_oov_entry"] = oov_entry
        return cls(Vocab(tokens, level=level), tables, "arpa", info)

    def warn_unk_convention(self, corpus_vocab: Vocab, ids: np.ndarray) -> None:
        """Warn (once per model) when a corpus's literal `<unk>` word meets an ARPA whose
        `<unk>` is KenLM's entry for unseen words: the number differs from one where the
        corpus's `<unk>` was a trained word (KenLM users rename it, e.g. to UNKWORD)."""
        if not self.info.get("unk_is_oov_entry") or getattr(self, "_unk_warned", False):
            return
        unk = corpus_vocab.stoi.get(UNK)
        if unk is not None and bool((np.asarray(ids) == unk).any()):
            self._unk_warned = True
            warnings.warn(
                f"the corpus's literal {UNK} is scored as this ARPA's {UNK}, KenLM's entry "
                f"for words unseen in training, not as a trained word (KenLM's convention: "
                f"rename the corpus's {UNK}, e.g. to UNKWORD, before lmplz and query)",
                stacklevel=3,
            )

    def encode(self, tokens: list[str]) -> np.ndarray:
        return self.vocab.encode(tokens)


def _unk_is_oov_entry(tables: NgramTables, tokens: list[str]) -> bool:
    """KenLM writes `<unk>` as a unigram that no longer n-gram uses (it was never seen)."""
    if UNK not in tokens or tables.order < 2:
        return False
    unk, keys = tokens.index(UNK), tables.keys[1]
    return not bool(((keys % tables.base) == unk).any() or ((keys // tables.base) == unk).any())


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
    return NgramTables(
        new, keys, [prob0, *tables.log10_prob[1:]], [back0, *tables.log10_backoff[1:]]
    )


def convert(
    arpa_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    quantize: int | None = None,
    level: str = "word",
    arpa: bool = False,
    overwrite: bool = False,
) -> NgramLM:
    """An ARPA file (KenLM, SRILM, seqlm) to a binary model directory: `seqlm ngram convert`."""
    from seqlm.modeldir import check_model_target

    check_model_target(out_dir, overwrite)  # before reading a large ARPA
    model = NgramLM.from_arpa(arpa_path, level=level)
    model.save(out_dir, arpa=arpa, quantize=quantize, overwrite=overwrite)
    return NgramLM.load(out_dir)
