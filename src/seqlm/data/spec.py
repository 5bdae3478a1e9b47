"""Which corpus, tokenized how: the settings a `Corpus` is built from and remembers.

A model directory stores its `CorpusSpec`, so `seqlm eval`, `--resume` and `compare` read
the corpus back from it instead of rebuilding a dict of loose settings.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from seqlm.io import SeqlmError
from seqlm.settings import check, setting

LEVELS = ("word", "char")


@dataclass
class CorpusSpec:
    source: str = setting("synthetic", "directory, text file, dataset name or synthetic[:k=v]")
    level: str | None = setting(None, "tokenizer (default: per corpus)", choices=LEVELS)
    max_vocab: int | None = setting(None, "keep the N most frequent tokens", min=1)
    min_count: int = setting(1, "drop tokens seen fewer than N times in train", min=1)
    split_fractions: tuple[float, float, float] | None = setting(
        None, "train,valid,test fractions for a single file (default 0.9,0.05,0.05)", flag=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise SeqlmError("a corpus source must be a non-empty string")
        check(self)
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
        out = asdict(self)
        if self.split_fractions is not None:
            out["split_fractions"] = list(self.split_fractions)
        return out

    @classmethod
    def from_json(cls, data: dict) -> CorpusSpec:
        if not isinstance(data, dict):
            raise SeqlmError("corpus settings must be a mapping")
        known = {"source", "level", "max_vocab", "min_count", "split_fractions"}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_level(self, level: str) -> CorpusSpec:
        return CorpusSpec(self.source, level, self.max_vocab, self.min_count, self.split_fractions)
