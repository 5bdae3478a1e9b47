"""Corpora: three token streams (train/valid/test) and the vocabulary built from train.

`load_corpus(spec)` accepts a directory with train/valid/test.txt, a single text file
(split contiguously by fractions at line ends) or what stands for one (JSONL or Parquet
with a text field, ``file.jsonl:field``; a dataset saved by Hugging Face `datasets`;
compressed text: `seqlm.data.sources`), a named dataset (``ptb``,
``tinyshakespeare``, ``wikitext-2``) or the built-in ``synthetic[:key=value,...]``.
Encoded corpora are cached (see `seqlm.data.cache`) keyed by the content of the sources
and the tokenizer settings, and memory-mapped on reload, so a second run starts at once.
"""

from __future__ import annotations

import logging
import math
import os
import stat
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np

from seqlm.data import cache, synthetic
from seqlm.data.cache import cache_root
from seqlm.data.download import DATASETS, dataset_files, file_digest
from seqlm.data.sizes import text_size
from seqlm.data.sources import text_files
from seqlm.data.spec import CorpusSpec
from seqlm.data.text import (
    EOS,
    UNK,
    check_file,
    detokenize,
    line_cuts,
    os_error,
    read_chunks,
    shown,
)
from seqlm.data.tokenizers import BPE, LEGACY, Tokenizer, choose, lines_of, make
from seqlm.data.vocab import Vocab, VocabBuilder
from seqlm.io import SeqlmError

SPLITS = ("train", "valid", "test")
log = logging.getLogger(__name__)
DEFAULT_FRACTIONS = (0.9, 0.05, 0.05)


@dataclass
class Corpus:
    name: str
    vocab: Vocab
    splits: dict[str, np.ndarray]  # int32 ids, possibly memory-mapped
    oov: dict[str, int] = field(default_factory=dict)  # tokens not in the vocabulary, per split
    marks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # synthetic only
    spec: CorpusSpec | None = None  # what it was loaded from (set by `load_corpus`)
    # per split, the original text's UTF-8 bytes and words (`seqlm.data.sizes`); empty
    # when unknown, and then bits per byte and perplexity per word are None
    text_bytes: dict[str, int] = field(default_factory=dict)
    words: dict[str, int] = field(default_factory=dict)

    @property
    def level(self) -> str:
        return self.vocab.level

    def __getitem__(self, split: str) -> np.ndarray:
        if split not in self.splits:
            raise SeqlmError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
        return self.splits[split]

    def entropy_floor(self, split: str) -> float | None:
        """Mean -log P(w_t | w_<t) under the generating distribution (nats/token), if known."""
        if split not in self.marks:
            return None
        return float(-self.marks[split]["logprob"].mean())

    def stats(self) -> dict:
        train = self["train"]
        out: dict = {
            "corpus": self.name,
            "level": self.level,
            "tokenizer": self.vocab.tokenizer_name,
            "vocab_size": len(self.vocab),
            "tokens": {s: int(len(self[s])) for s in SPLITS},
            "type_token_ratio": round(int(np.unique(train).size) / max(len(train), 1), 6),
            "oov_rate": {
                s: round(self.oov.get(s, 0) / max(len(self[s]), 1), 6) for s in SPLITS[1:]
            },
            "unk_rate": {s: round(float(np.mean(self[s] == self.vocab.unk_id)), 6) for s in SPLITS},
        }
        if self.marks:
            out["entropy_floor"] = {}
            for s in SPLITS:
                nats = self.entropy_floor(s)
                kinds = self.marks[s]["dep_kind"]
                out["entropy_floor"][s] = {
                    "nats_per_token": round(nats, 6),
                    "perplexity": round(math.exp(nats), 4),
                    "dependent_tokens": int(np.count_nonzero(kinds)),
                    "max_distance": int(self.marks[s]["dep_distance"].max()),
                }
        return out


def load_corpus(
    spec: str | CorpusSpec,
    level: str | None = None,
    max_vocab: int | None = None,
    min_count: int = 1,
    fractions: tuple[float, float, float] | None = None,
    cache: bool = True,
    tokenizer: str | None = None,
) -> Corpus:
    """Resolve `spec` to a corpus; see the module docstring for what its source may be.
    The keyword settings apply when `spec` is a plain string."""
    if not isinstance(spec, CorpusSpec):
        spec = CorpusSpec(spec, level, max_vocab, min_count, fractions, tokenizer)
    try:
        corpus = _load_corpus(spec, cache)
    except OSError as e:  # unreadable file or directory, a directory for a file, ...
        raise os_error(spec.source, e) from None
    corpus.spec = spec.with_tokenizer(corpus.vocab.tokenizer_name)
    return corpus


def _load_corpus(corpus_spec: CorpusSpec, use_cache: bool) -> Corpus:
    spec, fractions = corpus_spec.source, corpus_spec.split_fractions
    tokenizer = corpus_spec.tokenizer
    max_size, min_count = corpus_spec.max_vocab, corpus_spec.min_count
    settings = {"tokenizer": tokenizer, "max_size": max_size, "min_count": min_count}
    if spec == "synthetic" or spec.startswith("synthetic:"):
        if tokenizer not in (None, "whitespace"):
            raise SeqlmError("the synthetic corpus is tokenized by whitespace (it has words)")
        settings["tokenizer"] = "whitespace"
        config = synthetic.SyntheticConfig.from_spec(spec.partition(":")[2])
        key = {"synthetic": config.to_json(), **settings}
        return _cached(spec, key, use_cache, lambda: _encode_synthetic(spec, config, settings))
    if not spec.strip():
        raise SeqlmError("empty corpus name (give a file, a directory or a dataset)")
    try:
        path = Path(spec).expanduser()
    except RuntimeError:  # "~user" of no such user
        path = Path(spec)
    converted = text_files(spec)  # JSONL, Parquet, a saved dataset, compressed text
    if converted is not None and len(converted) == 1:
        path = converted[0]
    kind = "splits" if converted is not None and len(converted) == 3 else _file_kind(path)
    if kind == "splits":
        ranges = [(p, 0, None) for p in converted]
        default_tokenizer = None
    elif kind == "dir":
        sources = [path / f"{s}.txt" for s in SPLITS]
        missing = [p.name for p in sources if not p.exists()]
        if missing:
            raise SeqlmError(
                f"{path}: missing {', '.join(missing)} (expected train/valid/test.txt)"
            )
        ranges = [(p, 0, None) for p in map(check_file, sources)]
        default_tokenizer = None
    elif kind == "file":
        check_file(path)
        cuts = line_cuts(path, _check_fractions(fractions or DEFAULT_FRACTIONS))
        ranges = [(path, cuts[i], cuts[i + 1]) for i in range(3)]
        default_tokenizer = None
    elif spec in DATASETS:
        dataset, files = dataset_files(spec)
        if dataset.fractions is None:
            ranges = [(p, 0, None) for p in files]
        else:
            cuts = line_cuts(files[0], _check_fractions(fractions or dataset.fractions))
            ranges = [(files[0], cuts[i], cuts[i + 1]) for i in range(3)]
        default_tokenizer = LEGACY.get(dataset.level, dataset.level)
    else:
        raise SeqlmError(
            f"{shown(spec)}: no such file, directory or dataset (known datasets: "
            f"{', '.join(DATASETS)}, synthetic)"
        )
    if tokenizer is None:
        tokenizer = default_tokenizer or _chosen(ranges[0])
    settings["tokenizer"] = tokenizer
    digests = {str(p): file_digest(p) for p in {p for p, _, _ in ranges}}
    key = {"sources": [[digests[str(p)], a, b] for p, a, b in ranges], **settings}
    return _cached(spec, key, use_cache, lambda: _encode_files(spec, ranges, settings))


def _file_kind(path: Path) -> str | None:
    """Whether `path` is a directory ("dir"), anything else ("file") or absent (None);
    errors other than absence (permission denied, ...) raise."""
    try:
        return "dir" if stat.S_ISDIR(path.stat().st_mode) else "file"
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL byte
        return None


def _check_blank(vocab: Vocab, ids: np.ndarray, path: Path, split: str) -> None:
    """Refuse a split with no words, only line ends or whitespace characters: every model
    would predict it perfectly (vocabulary of 2, perplexity 1), which means nothing."""
    blank = [i for i, t in enumerate(vocab.tokens) if t == EOS or t.isspace()]
    if np.isin(ids, blank).all():
        raise SeqlmError(f"{path}: the {split} split has only whitespace, no words")


def _check_fractions(fractions: tuple[float, ...]) -> tuple[float, ...]:
    if (
        len(fractions) != 3
        or not all(math.isfinite(f) and f >= 0 for f in fractions)
        or abs(sum(fractions) - 1) > 1e-6
    ):
        raise SeqlmError(
            f"split fractions must be three numbers >= 0 summing to 1, got {fractions}"
        )
    return tuple(fractions)


PARALLEL_MIN_BYTES = 32 << 20  # smaller training files are tokenized in one process


SAMPLE_BYTES = 1 << 20  # of the train split, to choose a tokenizer from


def _chosen(train_range: tuple) -> str:
    """The tokenizer for a corpus without a preset, chosen from the start of its train
    split (`tokenizers.choose`) and logged with the reason."""
    path, start, end = train_range
    end = path.stat().st_size if end is None else end
    text = next(read_chunks(path, start, min(end, start + SAMPLE_BYTES), SAMPLE_BYTES), "")
    name, reason = choose(text.split("\n"))
    log.info("tokenizer %s (%s; choose another with --tokenizer)", name, reason)
    return name


def _lines(path: Path, start: int, end: int):
    for text in read_chunks(path, start, end):
        yield from lines_of(text)


def _tokenize_range(path: Path, start: int, end: int, tokenizer: Tokenizer) -> VocabBuilder:
    builder = VocabBuilder(capacity=end - start + 1)
    for text in read_chunks(path, start, end):
        builder.add(tokenizer.encode(text))
    return builder


def _tokenize_piece(path: Path, start: int, end: int, tokenizer: Tokenizer):
    return _tokenize_range(path, start, end, tokenizer).part()


def _pieces(path: Path, start: int, end: int, n: int) -> list[tuple[int, int]]:
    """`n` byte ranges covering [start, end), each cut at a line end."""
    cuts = [start]
    with open(path, "rb") as f:
        for k in range(1, n):
            f.seek(max(start + (end - start) * k // n, cuts[-1]))
            f.readline()
            cuts.append(min(max(f.tell(), cuts[-1]), end))
    cuts.append(end)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def _tokenize_train(path: Path, start: int, end: int, tokenizer: Tokenizer) -> VocabBuilder:
    """The training split, in parallel pieces (one process per core) when it is large;
    the vocabulary and ids equal those of one sequential pass."""
    workers = _env_int("SEQLM_WORKERS", os.cpu_count() or 1)
    threshold = _env_int("SEQLM_PARALLEL_MIN_BYTES", PARALLEL_MIN_BYTES)
    if workers < 2 or end - start < threshold:
        return _tokenize_range(path, start, end, tokenizer)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pieces = _pieces(path, start, end, workers * 4)
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            starts, ends = zip(*pieces, strict=True)
            parts = list(pool.map(_tokenize_piece, repeat(path), starts, ends, repeat(tokenizer)))
    except BrokenProcessPool:
        raise SeqlmError(
            f"{path}: a tokenizing process died (out of memory?); try SEQLM_WORKERS=1"
        ) from None
    return VocabBuilder.combine(parts)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SeqlmError(f"{name} must be an integer, got {value!r}") from None


def _encode_files(corpus_name: str, ranges, settings: dict) -> Corpus:
    path, start, end = ranges[0]
    end = end if end is not None else path.stat().st_size
    name = settings["tokenizer"]
    if name.startswith("bpe:"):  # trained on the train split's lines, streamed
        tokenizer = BPE.train(_lines(path, start, end), int(name[4:]))
    else:
        tokenizer = make(name)
    builder = _tokenize_train(path, start, end, tokenizer)
    if tokenizer.open_vocabulary:  # the whole alphabet: no split ever has <unk>
        vocab, train = builder.finish(tokenizer, extra_tokens=[*tokenizer.alphabet(), EOS])
    else:
        vocab, train = builder.finish(tokenizer, settings["max_size"], settings["min_count"])
    if len(train) == 0:
        raise SeqlmError(f"{path}: the training split has no tokens")
    _check_blank(vocab, train, path, "training")
    splits, oov = {"train": train}, {"train": 0}
    sizes = {s: text_size(read_chunks(*r)) for s, r in zip(SPLITS, ranges, strict=True)}
    for split, (path, start, end) in zip(SPLITS[1:], ranges[1:], strict=True):
        parts, n_oov = [], 0
        for text in read_chunks(path, start, end):
            ids = np.fromiter(map(vocab.stoi.get, tokenizer.encode(text), repeat(-1)), np.int32)
            unknown = ids < 0
            n_oov += int(unknown.sum())
            ids[unknown] = vocab.unk_id
            parts.append(ids)
        splits[split] = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        oov[split] = n_oov
        if len(splits[split]) == 0:
            raise SeqlmError(f"{path}: the {split} split has no tokens")
        _check_blank(vocab, splits[split], path, split)
    return _with_sizes(Corpus(corpus_name, vocab, splits, oov), sizes)


def _with_sizes(corpus: Corpus, sizes: dict[str, tuple[int, int]]) -> Corpus:
    corpus.text_bytes = {s: n for s, (n, _) in sizes.items()}
    corpus.words = {s: n for s, (_, n) in sizes.items()}
    return corpus


def _encode_synthetic(name: str, config: synthetic.SyntheticConfig, settings: dict) -> Corpus:
    generated = {s: synthetic.generate_split(config, s) for s in SPLITS}
    builder = VocabBuilder(capacity=len(generated["train"].tokens))
    builder.add(generated["train"].tokens)
    vocab, train = builder.finish(
        "whitespace",
        settings["max_size"],
        settings["min_count"],
        extra_tokens=synthetic.vocabulary(),
    )
    splits, oov, marks = {"train": train}, {"train": 0}, {}
    for split in SPLITS[1:]:
        splits[split] = vocab.encode(generated[split].tokens)
        oov[split] = sum(t not in vocab.stoi for t in set(generated[split].tokens))
    for split, g in generated.items():
        marks[split] = {
            "logprob": g.logprob,
            "dep_kind": g.dep_kind,
            "dep_distance": g.dep_distance,
        }
    sizes = {s: text_size([detokenize(g.tokens, "word")]) for s, g in generated.items()}
    return _with_sizes(Corpus(name, vocab, splits, oov, marks), sizes)


def _cached(name: str, key: dict, use_cache: bool, build) -> Corpus:
    if not use_cache:
        return build()
    entry = cache.load(key)
    if entry is not None:
        *arrays, sizes = entry
        return _with_sizes(Corpus(name, *arrays), sizes)
    corpus = build()
    sizes = {s: (corpus.text_bytes[s], corpus.words[s]) for s in SPLITS}
    cache.store(key, corpus.vocab, corpus.splits, corpus.oov, corpus.marks, sizes)
    return corpus


__all__ = ["Corpus", "SPLITS", "UNK", "load_corpus", "cache_root"]
