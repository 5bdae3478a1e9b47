"""Which corpus, tokenized how: the settings a `Corpus` is built from and remembers.

A model directory stores its `CorpusSpec`, so `seqlm eval`, `--resume` and `compare` read
the corpus back from it instead of rebuilding a dict of loose settings.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from seqlm.data.tokenizers import LEGACY, check_name
from seqlm.io import SeqlmError
from seqlm.settings import check, setting

LEVELS = ("word", "char")


@dataclass
class CorpusSpec:
    source: str = setting(
        "synthetic",
        "directory, text file (or JSONL/Parquet[:field], a saved dataset, .gz/.xz/.zst text), "
        "dataset name or synthetic[:k=v]",
    )
    level: str | None = setting(
        None, "same as --tokenizer whitespace (word) or chars (char)", choices=LEVELS
    )
    max_vocab: int | None = setting(None, "keep the N most frequent tokens", min=1)
    min_count: int = setting(1, "drop tokens seen fewer than N times in train", min=1)
    split_fractions: tuple[float, float, float] | None = setting(
        None, "train,valid,test fractions for a single file (default 0.9,0.05,0.05)", flag=False
    )
    tokenizer: str | None = setting(
        None, "whitespace, words, chars, bytes or bpe:N (default: per corpus)"
    )

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise SeqlmError("a corpus source must be a non-empty string")
        check(self)
        if self.level is not None:  # the format-2 name of a tokenizer
            named = LEGACY[self.level]
            if self.tokenizer is not None and check_name(self.tokenizer) != named:
                raise SeqlmError(
                    f"level {self.level} means tokenizer {named}, not {self.tokenizer}"
                )
            self.tokenizer, self.level = named, None
        if self.tokenizer is not None:
            if not isinstance(self.tokenizer, str):
                raise SeqlmError(f"a tokenizer must be a name, got {self.tokenizer!r}")
            self.tokenizer = check_name(self.tokenizer)
        fractions = self.split_fractions
        if fractions is not None:
            try:
                fractions = tuple(float(x) for x in fractions)
            except (TypeError, ValueError):
                raise SeqlmError(f"bad split fractions {fractions!r}") from None
            if (
                len(fractions) != 3
                or not all(math.isfinite(f) and f >= 0 for f in fractions)
                or abs(sum(fractions) - 1) > 1e-6
            ):
                raise SeqlmError(
                    f"split fractions must be three numbers >= 0 summing to 1, got {fractions}"
                )
            self.split_fractions = fractions

    def to_json(self) -> dict:
        """JSON-ready; a file or directory source as an absolute path, so a model directory
        that records it works from any working directory (names stay names)."""
        out = asdict(self)
        out["source"] = _absolute(self.source)
        if self.split_fractions is not None:
            out["split_fractions"] = list(self.split_fractions)
        return out

    @classmethod
    def from_json(cls, data: dict) -> CorpusSpec:
        if not isinstance(data, dict):
            raise SeqlmError("corpus settings must be a mapping")
        known = {"source", "level", "max_vocab", "min_count", "split_fractions", "tokenizer"}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_tokenizer(self, tokenizer: str) -> CorpusSpec:
        return replace(self, level=None, tokenizer=tokenizer)

    def with_level(self, level: str) -> CorpusSpec:
        """The spec with a format-2 level (word, char) or a tokenizer's name."""
        return self.with_tokenizer(LEGACY.get(level, level))

    def located(self, model_dir: str | os.PathLike) -> CorpusSpec:
        """This spec as read from `model_dir`: a relative path (recorded by older seqlm,
        relative to where training ran) that does not exist from here is looked up from
        the model directory and its parents, nearest first."""
        source = self.source
        if _is_name(source) or os.path.isabs(source) or os.path.exists(source):
            return self
        start = os.path.abspath(model_dir)
        for folder in [start, *Path(start).parents]:
            if os.path.exists(os.path.join(folder, source)):
                return replace(self, source=os.path.join(folder, source))
        return self


def _is_name(source: str) -> bool:
    return source == "synthetic" or source.startswith(("synthetic:", "~"))


def _absolute(source: str) -> str:
    """A source that names an existing file or directory, as an absolute path (with its
    text field, ``data.jsonl:field``)."""
    if _is_name(source):
        return source
    if not os.path.exists(source):
        path, _, field = source.rpartition(":")
        if path and field and os.path.exists(path):
            return f"{os.path.abspath(path)}:{field}"
        return source
    return os.path.abspath(source)
