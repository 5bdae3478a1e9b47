"""The vocabulary: a fixed, reproducible map between tokens and integer ids.

Ids are ordered by training-set frequency, ties broken by first occurrence, so the same
corpus always gives the same ids. Tokens cut by `max_size`/`min_count`, and tokens of
other splits never seen in training, map to `<unk>`. If the training text itself
contains `<unk>` (as PTB does) it is an ordinary, counted word that also serves as the
unknown token, the convention of every neural LM paper on PTB.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from seqlm.data.text import EOS, UNK, os_error
from seqlm.data.tokenizers import BPE, LEGACY, Tokenizer, make
from seqlm.io import SeqlmError, digest

VOCAB_FORMAT = "seqlm-vocab"
VOCAB_VERSION = 2  # 2: `tokenizer` (1, still written for whitespace: `level` word/char)


class Vocab:
    """Tokens <-> ids, and the tokenizer that makes the tokens (`tokenizer`: a name, a
    `Tokenizer`, or a format-2 level, `word`/`char`; a `bpe:N` one must be the object)."""

    def __init__(
        self,
        tokens: Sequence[str],
        counts: Sequence[int] | None = None,
        tokenizer: str | Tokenizer = "whitespace",
        *,
        level: str | None = None,
    ):
        self.tokenizer = _tokenizer(level if level is not None else tokenizer)
        self.tokens = list(tokens)
        if UNK not in self.tokens:
            raise SeqlmError(f"vocabulary has no {UNK} token")
        self.counts = list(counts) if counts is not None else [0] * len(self.tokens)
        if len(self.counts) != len(self.tokens):
            raise SeqlmError("vocabulary tokens and counts differ in length")
        self.stoi = {t: i for i, t in enumerate(self.tokens)}
        if len(self.stoi) != len(self.tokens):
            raise SeqlmError("vocabulary has duplicate tokens")
        self.unk_id = self.stoi[UNK]

    @property
    def level(self) -> str:
        """Granularity (word, char, byte, subword): what a token is, for the units reported."""
        return self.tokenizer.level

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name

    def sentence_end(self) -> int:
        """The id after which an n-gram context restarts (`<eos>` of words and subwords);
        -1 for characters and bytes, which read as one stream."""
        return self.stoi.get(EOS, -1) if self.level in ("word", "subword") else -1

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and (self.tokens, self.tokenizer_name) == (
            other.tokens,
            other.tokenizer_name,
        )

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        ids = map(self.stoi.get, tokens, itertools.repeat(self.unk_id))
        return np.fromiter(ids, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    # -- persistence ----------------------------------------------------------------
    def to_json(self) -> dict:
        name = self.tokenizer_name
        legacy = {v: k for k, v in LEGACY.items()}.get(name)
        data = {"format": VOCAB_FORMAT, "version": 1 if name == "whitespace" else VOCAB_VERSION}
        data["level"] = legacy or self.level  # format 1 readers know word and char
        if name != "whitespace":
            data["tokenizer"] = name
        if isinstance(self.tokenizer, BPE):
            data["tokenizer_sha256"] = digest(self.tokenizer.model.to_str().encode())
        return {**data, "unk": UNK, "tokens": self.tokens, "counts": self.counts}

    def save(self, path: str | os.PathLike) -> None:
        """vocab.json; a BPE tokenizer goes beside it as tokenizer.json (written first)."""
        from seqlm.io import atomic_write_text

        if isinstance(self.tokenizer, BPE):
            self.tokenizer.save(Path(path).with_name("tokenizer.json"))
        atomic_write_text(path, json.dumps(self.to_json(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SeqlmError(f"{path}: no such vocabulary file") from None
        except OSError as e:
            raise os_error(path, e) from None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise SeqlmError(f"{path}: corrupt vocabulary file ({e.__class__.__name__})") from None
        if not isinstance(data, dict) or data.get("format") != VOCAB_FORMAT:
            raise SeqlmError(f"{path}: not a seqlm vocabulary file")
        version = data.get("version", 0)
        if not _is_count(version):
            raise SeqlmError(f"{path}: corrupt vocabulary file (version)")
        if version > VOCAB_VERSION:
            raise SeqlmError(f"{path}: vocabulary format v{version} is newer than this seqlm")
        tokens, counts, level = data.get("tokens"), data.get("counts"), data.get("level", "word")
        level = data.get("tokenizer", level) if version >= 2 else level
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise SeqlmError(f"{path}: corrupt vocabulary file (tokens)")
        if counts is not None and (not isinstance(counts, list) or not all(map(_is_count, counts))):
            raise SeqlmError(f"{path}: corrupt vocabulary file (counts)")
        if not isinstance(level, str):
            raise SeqlmError(f"{path}: corrupt vocabulary file (level)")
        if version < 2 and level == "char":  # format 1 chars ended lines with a "\n" token
            tokens = [EOS if t == "\n" else t for t in tokens]
        try:
            tokenizer = make(level, path.parent)
            if isinstance(tokenizer, BPE) and data.get("tokenizer_sha256") != digest(
                tokenizer.model.to_str().encode()
            ):
                raise SeqlmError("tokenizer.json does not match the vocabulary")
            return cls(tokens, counts, tokenizer)
        except SeqlmError as e:
            raise SeqlmError(f"{path}: {e}") from None


def _tokenizer(value: str | Tokenizer) -> Tokenizer:
    if isinstance(value, Tokenizer):
        return value
    if not isinstance(value, str):
        raise SeqlmError(f"a tokenizer must be a name, got {value!r}")
    return make(value)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class VocabBuilder:
    """Counts and provisionally encodes training text in one streaming pass.

    Each new token gets a provisional id in order of first occurrence, so after the pass
    the frequency order and the remapping of the stored ids are a few NumPy operations,
    with no second pass over the text. `dict.setdefault` driven by `map` keeps the
    per-token work in C: it hands out a counter value per *token*, and the gaps are
    closed per chunk with a sorted lookup of the counter values that were new.

    The ids go into one buffer of `capacity` (an upper bound on the token count, e.g. the
    file size in bytes + 1). Memory pages that are never written are never made resident,
    so the bound costs address space, not memory, and the ids are never copied.
    """

    def __init__(self, capacity: int) -> None:
        self._buffer = np.empty(capacity, np.int32)
        self._size = 0
        self._ids: dict[str, int] = {}
        self._counter = itertools.count()
        self._seen = np.zeros(0, np.int64)  # counter values of the distinct tokens, increasing
        self._counts = np.zeros(0, np.int64)

    def add(self, tokens: list[str]) -> None:
        base = next(self._counter)
        raw = np.fromiter(map(self._ids.setdefault, tokens, self._counter), np.int64, len(tokens))
        new = np.unique(raw[raw > base])
        self._seen = np.concatenate([self._seen, new])
        ids = np.searchsorted(self._seen, raw).astype(np.int32)
        counts = np.bincount(ids, minlength=len(self._seen))
        counts[: len(self._counts)] += self._counts
        self._counts = counts
        if self._size + len(ids) > len(self._buffer):
            raise ValueError("VocabBuilder capacity exceeded")
        self._buffer[self._size : self._size + len(ids)] = ids
        self._size += len(ids)

    def part(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(distinct tokens in first-occurrence order, their counts, the ids so far): what a
        worker that tokenized one piece of a file sends back."""
        return list(self._ids), self._counts, self._buffer[: self._size]

    @classmethod
    def combine(cls, parts: Sequence[tuple[list[str], np.ndarray, np.ndarray]]) -> VocabBuilder:
        """One builder equal to a single pass over the pieces in order (parallel tokenizing)."""
        out = cls(sum(len(ids) for _, _, ids in parts) + 1)
        index: dict[str, int] = {}
        counts = np.zeros(0, np.int64)
        for words, part_counts, ids in parts:
            # New words get the next ids in the part's first-occurrence order; the part's
            # words are distinct, so each new one takes exactly one id (no gaps).
            new = [w for w in words if w not in index]
            index.update(zip(new, itertools.count(len(index))))
            table = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
            if len(index) > len(counts):
                counts = np.concatenate([counts, np.zeros(len(index) - len(counts), np.int64)])
            np.add.at(counts, table, part_counts)
            out._buffer[out._size : out._size + len(ids)] = table[ids]
            out._size += len(ids)
        out._ids, out._counts = index, counts
        out._seen = np.arange(len(index), dtype=np.int64)
        out._counter = itertools.count(len(index))
        return out

    def finish(
        self,
        level: str | Tokenizer,
        max_size: int | None = None,
        min_count: int = 1,
        extra_tokens: Sequence[str] = (),
    ) -> tuple[Vocab, np.ndarray]:
        """Return the vocabulary and the training ids under it."""
        if max_size is not None and max_size < 2:
            raise SeqlmError("max vocabulary size must be at least 2")
        prov = self._buffer[: self._size]
        words = list(self._ids)  # in order of first occurrence = provisional id
        counts = self._counts
        order = np.lexsort((np.arange(len(words)), -counts))  # frequency, then first occurrence
        keep = order[counts[order] >= min_count]
        if min_count > 1 and all(words[i] in (EOS, UNK) for i in keep):
            top = next((int(counts[i]) for i in order if words[i] not in (EOS, UNK)), 0)
            raise SeqlmError(
                f"--min-count {min_count} leaves no token: the most frequent one is seen "
                f"{top} times in the training split"
            )
        if max_size is not None and len(keep) > max_size:
            unk_kept = UNK in self._ids and words.index(UNK) in keep[:max_size]
            keep = keep[: max_size if unk_kept else max_size - 1]
        tokens = [words[i] for i in keep]
        kept_counts = counts[keep].tolist()
        for extra in extra_tokens:
            if extra not in self._ids:
                tokens.append(extra)
                kept_counts.append(0)
        if UNK not in tokens:
            tokens.append(UNK)
            kept_counts.append(0)
        vocab = Vocab(tokens, kept_counts, level)
        remap = np.full(len(words), vocab.unk_id, dtype=np.int32)
        remap[keep] = np.arange(len(keep), dtype=np.int32)
        return vocab, np.take(remap, prov, out=prov, mode="clip")  # clip: no buffer copy
