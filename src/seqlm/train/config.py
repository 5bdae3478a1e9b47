"""Training settings: defaults per corpus, a TOML file, then the command line, in that order."""

from __future__ import annotations

import itertools
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from seqlm.data.text import os_error
from seqlm.errors import SeqlmError


@dataclass
class TrainConfig:
    # model (see ModelConfig)
    model: str = "lstm"
    embed: int = 200
    hidden: int = 200
    layers: int = 2
    dropout: float = 0.0
    dropout_embed: float = 0.0
    dropout_between: float = 0.0
    variational: bool = False
    tied: bool = False
    forget_bias: float = 1.0
    adaptive_cutoffs: list[int] = field(default_factory=list)
    backend: str = "fused"
    # data
    batch_size: int = 20
    bptt: int = 35
    variable_bptt: bool = False
    # optimisation
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 1.0
    weight_decay: float = 0.0
    momentum: float = 0.0
    clip: float = 0.25
    warmup_steps: int = 0  # adamw: linear warm-up, then cosine to lr * min_lr_ratio
    min_lr_ratio: float = 0.05
    lr_decay: float = 4.0  # sgd: divide lr by this when validation stops improving
    decay_after_epoch: int = 0  # sgd: ... or every epoch after this one (Zaremba), 0: off
    epochs: int = 10
    max_steps: int = 0  # 0: no limit
    max_minutes: float = 0.0  # 0: no limit; stops at the budget with the best checkpoint
    patience: int = 0  # early stopping after this many evaluations without improvement
    eval_every: int = 0  # steps between validations (0: each epoch end only)
    eval_minutes: float = 0.0  # also validate after this much training time (0: off)
    eval_streams: int = 1  # validation reads the split as this many streams at once (1: exact)
    checkpoint_every: int = 200  # steps between resumable checkpoints
    log_every: int = 50
    seed: int = 1
    threads: int = 0  # 0: torch's default
    device: str = "auto"
    amp: str = "auto"  # auto (bf16 on CUDA if supported, else fp16 on CUDA, none on CPU) | none | bf16 | fp16
    compile: bool = False
    tensorboard: bool = False

    def validate(self) -> None:
        if self.optimizer not in ("sgd", "adamw"):
            raise SeqlmError(f"unknown optimizer {self.optimizer!r} (choose sgd or adamw)")
        if self.amp not in ("auto", "none", "bf16", "fp16"):
            raise SeqlmError(f"unknown --amp {self.amp!r}")
        for name in ("batch_size", "bptt", "epochs", "checkpoint_every", "log_every",
                     "eval_streams"):  # fmt: skip
            if getattr(self, name) < 1:
                raise SeqlmError(f"--{name.replace('_', '-')} must be at least 1")
        if not self.lr > 0 or self.lr == float("inf"):
            raise SeqlmError("--lr must be positive")
        validate_settings(asdict(self))

    def to_json(self) -> dict:
        return asdict(self)


_TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "list[int]": "a list of integers",
}
# Ranges of numeric settings: (low, high, low allowed, high allowed). All must
# also be finite. `clip` > 0: the gradient norm is always clipped, and clipping to 0 would
# zero every update. `lr_decay` >= 1: the lr is *divided* by it, so below 1 it would grow.
_AT_LEAST_1 = ("embed", "hidden", "layers", "batch_size", "bptt", "epochs", "checkpoint_every",
               "log_every", "eval_streams")  # fmt: skip
_AT_LEAST_0 = ("weight_decay", "warmup_steps", "decay_after_epoch", "max_steps", "max_minutes",
               "patience", "eval_every", "eval_minutes", "threads")  # fmt: skip
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    **{n: (1, math.inf, True, False) for n in _AT_LEAST_1},
    **{n: (0, math.inf, True, False) for n in _AT_LEAST_0},
    **{n: (0, 1, True, False) for n in ("dropout", "dropout_embed", "dropout_between")},
    "momentum": (0, 1, True, False),
    "seed": (0, 2**63, True, False),
    "lr": (0, math.inf, False, False),
    "clip": (0, math.inf, False, False),
    "lr_decay": (1, math.inf, True, False),
    "min_lr_ratio": (0, 1, True, True),
    "forget_bias": (-math.inf, math.inf, True, False),
}


def _type_ok(value: object, kind: str) -> bool:
    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if kind == "int":
        return is_int(value)
    if kind == "float":
        return is_int(value) or isinstance(value, float)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list[int]":
        return isinstance(value, list) and all(map(is_int, value))
    return True  # a type this check does not know


def validate_settings(values: dict) -> None:
    """Check the types, finiteness and ranges of training settings (from TOML, the command
    line or a saved run) before anything is built; one `SeqlmError` line names the field."""
    kinds = {f.name: str(f.type) for f in fields(TrainConfig)}
    for key, value in values.items():
        kind = kinds.get(key)
        if kind is None:
            continue  # unknown names are reported by whoever assembles the values
        name = f"{key} (--{key.replace('_', '-')})"  # as in a TOML file and on the command line
        if not _type_ok(value, kind):
            raise SeqlmError(f"setting {name} must be {_TYPE_NAMES[kind]}, got {value!r}")
        if key not in _RANGES:
            continue
        low, high, low_ok, high_ok = _RANGES[key]
        if not math.isfinite(value):
            raise SeqlmError(f"setting {name} must be a finite number, got {value!r}")
        above = value >= low if low_ok else value > low
        below = value <= high if high_ok else value < high
        if not (above and below):
            where = f"{'>=' if low_ok else '>'} {low}"
            if high < math.inf:
                where = f"in {'[('[not low_ok]}{low}, {high}{'])'[not high_ok]}"
            raise SeqlmError(f"setting {name} must be {where}, got {value!r}")
    cutoffs = values.get("adaptive_cutoffs") or []
    if any(c < 1 for c in cutoffs) or any(b <= a for a, b in itertools.pairwise(cutoffs)):
        raise SeqlmError(
            f"setting adaptive_cutoffs (--adaptive-cutoffs) must increase from 1 up, got {cutoffs!r}"
        )


# Defaults per named corpus; anything not listed keeps TrainConfig's defaults.
PRESETS: dict[str, dict] = {
    # PTB in an hour on two CPU cores: 2x650 LSTM, adaptive softmax (2.3x the tokens/s of
    # a full softmax here), variational dropout, AdamW (short warm-up) with a cosine
    # schedule over ~20 epochs, validated every 200 steps on 10 streams (cheap: ~5% of the
    # time). See README for the measured curves.
    "ptb": dict(model="lstm", embed=650, hidden=650, layers=2, adaptive_cutoffs=[2000, 6000],
                dropout=0.5, dropout_embed=0.2, dropout_between=0.3, variational=True,
                batch_size=64, bptt=35, variable_bptt=True, optimizer="adamw", lr=3e-3,
                weight_decay=0.01, warmup_steps=50, clip=1.0, epochs=40, max_steps=9000,
                max_minutes=60, eval_every=200, eval_streams=10),
    # Zaremba et al. 2014 "small": 2x200, no dropout, SGD lr 1, bptt 20, batch 20, 13
    # epochs, lr halved each epoch after the 4th. Their loss is summed over the 20 steps
    # of a window (and averaged over the batch); ours is the mean per token, so the same
    # update needs lr 1 x 20 and their clip norm 5 becomes 5 / 20.
    "ptb-small": dict(model="lstm", embed=200, hidden=200, layers=2, batch_size=20, bptt=20,
                      optimizer="sgd", lr=20.0, clip=0.25, epochs=13, lr_decay=2.0,
                      decay_after_epoch=4, forget_bias=0.0),
    "tinyshakespeare": dict(model="lstm", embed=128, hidden=512, layers=2, dropout=0.2,
                            dropout_between=0.2, batch_size=64, bptt=128, optimizer="adamw",
                            lr=3e-3, warmup_steps=100, clip=1.0, epochs=20, max_minutes=30,
                            eval_every=300),
    "synthetic": dict(model="lstm", embed=64, hidden=128, layers=1, batch_size=32, bptt=50,
                      optimizer="adamw", lr=5e-3, warmup_steps=50, clip=1.0, epochs=2,
                      eval_every=200),
}  # fmt: skip


def preset_for(corpus: str) -> dict:
    name = corpus.split(":")[0]
    return dict(PRESETS.get(name, {}))


def load_config_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeqlmError(f"{path}: no such config file") from None
    except OSError as e:
        raise os_error(path, e) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SeqlmError(f"{path}: not valid TOML ({e})") from None
    data = data.get("train", data)
    if not isinstance(data, dict):
        raise SeqlmError(f"{path}: [train] must be a table of settings")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(k.replace("-", "_") for k in data) - known)
    if unknown:
        raise SeqlmError(f"{path}: unknown settings {', '.join(unknown)}")
    return {k.replace("-", "_"): v for k, v in data.items()}


def make_config(
    corpus: str, file: str | None, overrides: dict, preset: str | None = None
) -> TrainConfig:
    if preset is not None and preset not in PRESETS:
        raise SeqlmError(f"unknown preset {preset!r} (choose {', '.join(PRESETS)})")
    values = dict(PRESETS[preset]) if preset else preset_for(corpus)
    if file:
        values.update(load_config_file(file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    validate_settings(values)
    try:
        config = TrainConfig(**values)
    except TypeError as e:
        raise SeqlmError(f"bad training settings: {e}") from None
    config.validate()
    return config
