"""Training settings: defaults per corpus, then a TOML file, then the command line.

`TrainConfig` nests the `ModelConfig` it trains, so each setting is declared once (with its
help, choices and range) and `config.json` stores it once. Presets, TOML files and flags
speak one flat namespace (`hidden`, `lr`, ...): `TrainConfig.from_flat` sorts the names
into the two levels.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

from seqlm.data.corpus import Corpus
from seqlm.data.text import os_error
from seqlm.io import SeqlmError
from seqlm.nn.config import ModelConfig
from seqlm.settings import MAX_SEED, MAX_THREADS, check, from_dict, setting

MODEL_FIELDS = {f.name for f in fields(ModelConfig)} - {"vocab_size"}


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    backend: str = setting(
        "fused",
        "fused (torch.nn kernels) or reference (cells from the equations)",
        choices=("fused", "reference"),
    )
    # data
    batch_size: int = setting(20, "parallel streams per step", min=1, max=1_000_000)
    bptt: int = setting(35, "truncated-BPTT window length", min=1, max=1_000_000)
    variable_bptt: bool = setting(False, "randomise the window length (AWD-LSTM)")
    # optimisation
    optimizer: str = setting(
        "sgd",
        "optimizer (ntasgd: SGD, then weight averaging once validation stalls; AWD-LSTM)",
        choices=("sgd", "adamw", "ntasgd"),
    )
    asgd_nonmono: int = setting(
        5, "NT-ASGD: average once validation is worse than the best before the last N", min=0
    )
    lr_by_window: bool = setting(
        False, "scale the lr by window length / bptt (AWD-LSTM, with --variable-bptt)"
    )
    lr: float = setting(1.0, "learning rate", above=0)
    weight_decay: float = setting(0.0, "weight decay (AdamW: decoupled; SGD: L2)", min=0)
    momentum: float = setting(0.0, "SGD momentum", min=0, below=1)
    clip: float = setting(0.25, "gradient-norm clipping", above=0)
    warmup_steps: int = setting(0, "AdamW linear warm-up steps (then cosine decay)", min=0)
    min_lr_ratio: float = setting(0.05, "AdamW: the cosine ends at lr times this", min=0, max=1)
    decay_fraction: float = setting(
        0.0,
        "AdamW: hold the peak lr, then a cosine over this last fraction of the run "
        "(warmup-stable-decay; 0: cosine over the whole run)",
        min=0,
        max=1,
    )
    budget_schedule: bool = setting(
        False, "AdamW: the cosine ends when --max-minutes of training do, if before the steps"
    )
    lr_decay: float = setting(
        4.0, "SGD: divide the lr by this when validation stops improving", min=1
    )
    decay_after_epoch: int = setting(
        0, "SGD: divide the lr every epoch after this one instead (0: off)", min=0
    )
    epochs: int = setting(10, "epochs", min=1)
    max_steps: int = setting(0, "stop after this many steps (0: no limit)", min=0)
    max_tokens: int = setting(
        0,
        "training-token budget: stop after this many tokens (0: no limit); unlike "
        "--max-minutes it gives the same model on any machine",
        min=0,
    )
    max_minutes: float = setting(
        0.0, "training-time budget; stops with the best checkpoint (0: none)", min=0
    )
    budget_includes_eval: bool = setting(
        False,
        "--max-minutes counts validation too (wall time), keeping room for the check of "
        "the last weights; the schedule then ends with the wall-time budget",
    )
    patience: int = setting(0, "early stopping: evaluations without improvement (0: off)", min=0)
    eval_every: int = setting(0, "steps between validations (default: each epoch end)", min=0)
    eval_minutes: float = setting(0.0, "also validate after this many minutes of training", min=0)
    eval_streams: int = setting(
        1,
        "validation reads the split as this many parallel streams "
        "(default 1: exact; 10, pytorch/examples' choice, is ~2x faster on PTB)",
        min=1,
    )
    eval_tokens: int = setting(
        0,
        "intermediate validations read this many tokens of the split, a fixed prefix "
        "(0: all); the best checkpoint is scored on the whole split at the end",
        min=0,
    )
    eval_share: float = setting(
        0.0,
        "skip due validations while they exceed this share of the wall time (0: off)",
        min=0,
        below=1,
    )
    checkpoint_every: int = setting(200, "steps between resumable checkpoints", min=1)
    log_every: int = setting(50, "steps between metric rows", min=1)
    seed: int = setting(1, "random seed", min=0, max=MAX_SEED)
    threads: int = setting(0, "CPU threads (0: torch's default)", min=0, max=MAX_THREADS)
    deterministic: bool = setting(
        False, "deterministic kernels (torch.use_deterministic_algorithms), for reproducible runs"
    )
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps")
    amp: str = setting(
        "auto",
        "mixed precision (auto: bf16 or fp16 on CUDA, none on CPU)",
        choices=("auto", "none", "bf16", "fp16"),
    )
    tensorboard: bool = setting(False, "also log to DIR/tensorboard")

    def validate(self) -> None:
        check(self)
        check(self.model)
        self.model.check_cutoffs()  # against the vocabulary: when the model is built
        if self.device != "auto" and self.device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise SeqlmError(f"unknown --device {self.device!r} (auto, cpu, cuda, cuda:N, mps)")

    def to_json(self) -> dict:
        """The training settings; the model's live in their own section."""
        return {k: v for k, v in asdict(self).items() if k != "model"}

    @classmethod
    def from_flat(cls, values: dict, where: str = "settings") -> TrainConfig:
        """Model and training settings in one namespace (presets, TOML, flags)."""
        values = {k.replace("-", "_"): v for k, v in values.items()}
        if "model" in values and isinstance(values["model"], str):  # the old name of `cell`
            values["cell"] = values.pop("model")
        values.pop("compile", None)  # removed, never had an effect (older config.json)
        model = {k: values.pop(k) for k in list(values) if k in MODEL_FIELDS}
        config = from_dict(cls, values, where)
        config.model = from_dict(ModelConfig, model, where)
        return config

    def to_flat(self) -> dict:
        model = {k: v for k, v in asdict(self.model).items() if k != "vocab_size"}
        return {**model, **self.to_json()}


def _load_presets() -> dict[str, dict]:
    """presets.toml, shipped with the package; `base` names a preset to start from."""
    tables = tomllib.loads(resources.files(__package__).joinpath("presets.toml").read_text())
    return {name: {**tables.get(table.get("base"), {}), **table} for name, table in tables.items()}


# Defaults per named corpus; anything not listed keeps TrainConfig's defaults.
PRESETS: dict[str, dict] = {
    name: {k: v for k, v in values.items() if k != "base"}
    for name, values in _load_presets().items()
}


# the tokenizer each corpus's own preset was made for: at another level the corpus gets the
# size-fitted recipe (Tiny Shakespeare's char-level preset would be a toy at word level)
PRESET_LEVELS = {"ptb": "word", "tinyshakespeare": "char"}


def preset_for(corpus: str, level: str | None = None) -> dict:
    name = corpus.split(":")[0]
    if level is not None and PRESET_LEVELS.get(name, level) != level:
        return {}
    return dict(PRESETS.get(name, {}))


def load_config_file(path: str | Path) -> dict:
    """A TOML file's settings (its [train] table, or the top level), flat."""
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
    TrainConfig.from_flat(data, str(path))  # names and values checked here, with the path
    return data


def make_config(
    corpus: Corpus | str,
    file: str | None = None,
    overrides: dict | None = None,
    preset: str | None = None,
    sizes: tuple[int, int] | None = None,
    level: str | None = None,
    rate=None,
) -> TrainConfig:
    """Preset (named, or the corpus's own), then the TOML file, then `overrides`. A corpus
    without a preset, given `sizes` (training tokens, vocabulary), gets a recipe fitted to
    them and to the budget (`seqlm.train.recipe`); a loaded `Corpus` gives them itself.
    `rate`: the recipe's measure of tokens/s on this machine (`calibrate.rate_of`)."""
    if isinstance(corpus, Corpus):
        sizes = (len(corpus["train"]), len(corpus.vocab))
        level, corpus = corpus.vocab.level, corpus.spec.source if corpus.spec else corpus.name
    if preset is not None and preset not in PRESETS:
        raise SeqlmError(f"unknown preset {preset!r} (choose {', '.join(PRESETS)})")
    values = dict(PRESETS[preset]) if preset else preset_for(corpus, level)
    file_values = load_config_file(file) if file else {}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    TrainConfig.from_flat(given)  # the given values checked before a recipe is chosen
    if not values and sizes is not None:
        from seqlm.train.recipe import auto_recipe

        minutes = given.get("max_minutes", file_values.get("max_minutes", 0.0))
        values = auto_recipe(*sizes, max_minutes=minutes, rate=rate)
    values.update(file_values)
    values.update(given)
    # a preset's [NAME.by_cell.CELL] table: what that cell needs on top (the Transformer
    # on the synthetic corpus: longer windows, since no state carries across them)
    by_cell = values.pop("by_cell", {})
    cell = values.get("cell", "lstm")
    chosen = {**file_values, **given}
    values = {**values, **{k: v for k, v in by_cell.get(cell, {}).items() if k not in chosen}}
    config = TrainConfig.from_flat(values)
    config.validate()
    if sizes is not None:  # a model beyond this machine's memory: refused before any work
        replace(config.model, vocab_size=sizes[1]).check_size()
    return config
