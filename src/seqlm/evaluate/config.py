"""What `seqlm eval` is asked: the split, and the evaluation-time methods with their
tuning budget. Each method is tuned on valid and reported on the split."""

from __future__ import annotations

from dataclasses import dataclass

from seqlm.settings import setting

SPLITS = ("train", "valid", "test")


@dataclass
class EvalConfig:
    split: str = setting("test", "the split to score", choices=SPLITS)
    cache: int = setting(
        0,
        "recurrent models: neural cache over the last W hidden states (Grave et al. 2017)",
        min=0,
        max=1_000_000,
        metavar="W",
    )
    dynamic: str | None = setting(
        None, "recurrent models: dynamic evaluation (Krause et al. 2018)", choices=("sgd", "rms")
    )
    interpolate: str | None = setting(
        None,
        "recurrent models: mix with an n-gram: a model directory, an ARPA file, or an order "
        "(built from the corpus's train split)",
        metavar="NGRAM",
    )
    tune_tokens: int = setting(
        20_000, "validation tokens for tuning the dynamic lr (0: all)", min=0
    )

    @property
    def methods(self) -> bool:
        return bool(self.cache or self.dynamic or self.interpolate)
