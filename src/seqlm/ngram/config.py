"""What an n-gram build is made of: the one declaration of its settings (flags, checks)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from seqlm.ngram.external import parse_size
from seqlm.ngram.smoothing import DEFAULT_SMOOTHING, SMOOTHINGS
from seqlm.settings import check, setting

MAX_ORDER = 32  # beyond it nothing is left to count; the cap keeps a typo from a long wait


@dataclass
class NgramConfig:
    order: int = setting(3, "n", min=1, max=MAX_ORDER)
    smoothing: str = setting(
        DEFAULT_SMOOTHING,
        "mkn: interpolated modified Kneser-Ney as KenLM; kn: one discount per order; "
        "wb: Witten-Bell; add-k; ml: maximum likelihood (unseen events get probability 0: "
        "perplexity inf)",
        choices=SMOOTHINGS,
    )
    k: float = setting(1.0, "k of add-k", above=0)
    memory: int | None = setting(
        None,
        "memory budget: 1G, 500M, 25%% of RAM (default a quarter of RAM); beyond it "
        "counting spills sorted runs to disk, as lmplz -S",
        parse=parse_size,
        metavar="SIZE",
        min=1,
        max=2**50,
    )
    prune: list[int] = setting(
        [], "lmplz --prune: drop n-grams seen at most N times, per order (e.g. 0,1,1)"
    )
    workers: int | None = setting(
        None, "processes counting chunks in parallel (default: up to 2)", min=1, max=256
    )
    tmp: str | None = setting(None, "where chunked counting spills its runs", metavar="DIR")

    def validate(self) -> None:
        check(self)
        if self.tmp is not None and not os.path.isdir(self.tmp):
            from seqlm.io import SeqlmError

            raise SeqlmError(f"--tmp {self.tmp}: no such directory")
