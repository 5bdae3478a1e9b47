"""What each probe takes: the one declaration of its settings (flags, ranges, checks).

`seqlm probe` makes its flags from these classes, so a value out of range is refused in
one line before any model is loaded or trained.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlm.settings import MAX_SEED, setting

MAX_LENGTH = 100_000  # tokens: far beyond what a probe can use, short of a long wait


@dataclass
class ProbeSettings:
    seed: int = setting(0, "random seed", min=0, max=MAX_SEED)


@dataclass
class GradientsSettings(ProbeSettings):
    distance: int = setting(50, "steps back (K)", min=1, max=MAX_LENGTH)
    windows: int = setting(32, "windows averaged", min=1, max=MAX_LENGTH)


@dataclass
class ContextSettings(ProbeSettings):
    samples: int = setting(400, "target tokens scored", min=1, max=10_000_000)
    shuffle_beyond: int | None = setting(
        None, "shuffle the tokens further back than D", min=0, max=MAX_LENGTH, metavar="D"
    )


@dataclass
class GatesSettings(ProbeSettings):
    text: str | None = setting(None, "the text to read (default: --split)", metavar="FILE")
    tokens: int = setting(2000, "tokens of text read", min=1, max=10_000_000)
    property: str | None = setting(
        None, "line_position, in_quotes, bracket_depth (default: all)", metavar="P[,P]"
    )
    cells: str | None = setting(
        None, "cells for the heatmap (default: the best-correlated)", metavar="L:U[,L:U]"
    )


@dataclass
class MemoryProbeSettings(ProbeSettings):
    task: str = setting("both", "which task", choices=("adding", "copy", "both"))
    lengths: list[int] = setting(
        [],
        "lengths T (default: memory 10,20,50,100,200, then doubling while solved; "
        "forget-bias 50,100)",
        min=1,
        max=MAX_LENGTH,
        metavar="T[,T]",
    )
    steps: int | None = setting(
        None, "training steps per length, at most (default 2000)", min=1, max=10_000_000
    )


SETTINGS = {
    "gradients": GradientsSettings,
    "context": ContextSettings,
    "dependency": ProbeSettings,
    "gates": GatesSettings,
    "memory": MemoryProbeSettings,
    "forget-bias": MemoryProbeSettings,
}
