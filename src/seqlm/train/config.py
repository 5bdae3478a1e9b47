"""Training settings: defaults per corpus, then a TOML file, then the command line.

`TrainConfig` nests the `ModelConfig` it trains, so each setting is declared once (with its
help, choices and range) and `config.json` stores it once. Presets, TOML files and flags
speak one flat namespace (`hidden`, `lr`, ...): `TrainConfig.from_flat` sorts the names
into the two levels.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from seqlm.data.text import os_error
from seqlm.io import SeqlmError
from seqlm.nn.config import ModelConfig
from seqlm.settings import check, from_dict, setting

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
    batch_size: int = setting(20, "parallel streams per step", min=1)
    bptt: int = setting(35, "truncated-BPTT window length", min=1)
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
    seed: int = setting(1, "random seed", min=0)
    threads: int = setting(0, "CPU threads (0: torch's default)", min=0)
    deterministic: bool = setting(
        False, "deterministic kernels (torch.use_deterministic_algorithms), for reproducible runs"
    )
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps")
    amp: str = setting(
        "auto",
        "mixed precision (auto: bf16 or fp16 on CUDA, none on CPU)",
        choices=("auto", "none", "bf16", "fp16"),
    )
    compile: bool = setting(False, "torch.compile the model", flag=False)
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
        model = {k: values.pop(k) for k in list(values) if k in MODEL_FIELDS}
        config = from_dict(cls, values, where)
        config.model = from_dict(ModelConfig, model, where)
        return config

    def to_flat(self) -> dict:
        model = {k: v for k, v in asdict(self.model).items() if k != "vocab_size"}
        return {**model, **self.to_json()}


# AWD-LSTM (Merity et al. 2017) as published, for a GPU: 3 layers 1150-1150-400 tied,
# weight drop 0.5, locked dropout in 0.4 / between 0.25 / out 0.4, word dropout 0.1, AR 2,
# TAR 1, NT-ASGD lr 30 (non-monotone interval 5), clip 0.25, batch 20, variable bptt 70
# with the lr scaled by window length, weight decay 1.2e-6, 500 epochs, fp32. Expected
# (the paper, before its fine-tuning stage): PTB valid ~61, test ~59 after 500 epochs;
# 60.0 / 57.3 after fine-tuning. ~45-65 s per epoch on a P100-class GPU.
AWD_LSTM = dict(
    cell="lstm",
    embed=400,
    hidden=1150,
    layers=3,
    tied=True,
    weight_drop=0.5,
    dropout=0.4,
    dropout_embed=0.4,
    dropout_between=0.25,
    dropout_words=0.1,
    variational=True,
    ar=2.0,
    tar=1.0,
    forget_bias=0.0,
    optimizer="ntasgd",
    lr=30.0,
    asgd_nonmono=5,
    clip=0.25,
    batch_size=20,
    bptt=70,
    variable_bptt=True,
    lr_by_window=True,
    weight_decay=1.2e-6,
    epochs=500,
    eval_streams=10,
    seed=141,
    amp="none",
    checkpoint_every=1000,
)

# Defaults per named corpus; anything not listed keeps TrainConfig's defaults.
PRESETS: dict[str, dict] = {
    # PTB in an hour on two CPU cores: 2x650 LSTM, adaptive softmax (2.3x the tokens/s of
    # a full softmax here), variational dropout plus AWD's word dropout and weight drop,
    # AdamW (short warm-up) held at its peak lr for 45 minutes, then a cosine down to 5%
    # over the last quarter of the 60-minute budget (warmup-stable-decay). The earlier
    # recipe's cosine ran over 9000 steps, ~1.7 h here, so the budget stopped it at ~60% of
    # the peak lr, never annealed: the 98.5-101 plateau. Short step-matched runs
    # (docs/results/ptb-schedule-ab.txt)
    # put WSD ahead of both a constant lr and a cosine over the whole run. Validated every
    # 200 steps on 10 streams, kept under 10% of the wall time.
    "ptb": dict(
        cell="lstm",
        embed=650,
        hidden=650,
        layers=2,
        adaptive_cutoffs=[2000, 6000],
        dropout=0.5,
        dropout_embed=0.2,
        dropout_between=0.3,
        variational=True,
        dropout_words=0.1,
        weight_drop=0.2,
        batch_size=64,
        bptt=35,
        variable_bptt=True,
        optimizer="adamw",
        lr=3e-3,
        weight_decay=0.01,
        warmup_steps=50,
        clip=1.0,
        epochs=40,
        max_minutes=60,
        budget_schedule=True,
        decay_fraction=0.25,
        eval_every=200,
        eval_streams=10,
        eval_share=0.1,
    ),
    "ptb-awd": dict(AWD_LSTM),
    # WikiText-2 (AWD-LSTM's command): batch 80, between-layer dropout 0.2, input 0.65,
    # 750 epochs; the paper: valid 68.6 / test 65.8 after fine-tuning.
    "wikitext-2-awd": dict(
        AWD_LSTM, batch_size=80, dropout_between=0.2, dropout_embed=0.65, epochs=750, seed=1882
    ),
    # Zaremba et al. 2014 "small": 2x200, no dropout, SGD lr 1, bptt 20, batch 20, 13
    # epochs, lr halved each epoch after the 4th. Their loss is summed over the 20 steps
    # of a window (and averaged over the batch); ours is the mean per token, so the same
    # update needs lr 1 x 20 and their clip norm 5 becomes 5 / 20.
    "ptb-small": dict(
        cell="lstm",
        embed=200,
        hidden=200,
        layers=2,
        batch_size=20,
        bptt=20,
        optimizer="sgd",
        lr=20.0,
        clip=0.25,
        epochs=13,
        lr_decay=2.0,
        decay_after_epoch=4,
        forget_bias=0.0,
    ),
    "tinyshakespeare": dict(
        cell="lstm",
        embed=128,
        hidden=512,
        layers=2,
        dropout=0.2,
        dropout_between=0.2,
        batch_size=64,
        bptt=128,
        optimizer="adamw",
        lr=3e-3,
        warmup_steps=100,
        clip=1.0,
        epochs=20,
        max_minutes=30,
        eval_every=300,
    ),
    "synthetic": dict(
        cell="lstm",
        embed=64,
        hidden=128,
        layers=1,
        batch_size=32,
        bptt=50,
        optimizer="adamw",
        lr=5e-3,
        warmup_steps=50,
        clip=1.0,
        epochs=2,
        eval_every=200,
    ),
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
    corpus: str,
    file: str | None = None,
    overrides: dict | None = None,
    preset: str | None = None,
    sizes: tuple[int, int] | None = None,
    level: str | None = None,
) -> TrainConfig:
    """Preset (named, or the corpus's own), then the TOML file, then `overrides`. A corpus
    without a preset, given `sizes` (training tokens, vocabulary), gets a recipe fitted to
    them and to the budget (`seqlm.train.recipe`)."""
    if preset is not None and preset not in PRESETS:
        raise SeqlmError(f"unknown preset {preset!r} (choose {', '.join(PRESETS)})")
    values = dict(PRESETS[preset]) if preset else preset_for(corpus, level)
    file_values = load_config_file(file) if file else {}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if not values and sizes is not None:
        from seqlm.train.recipe import auto_recipe

        minutes = given.get("max_minutes", file_values.get("max_minutes", 0.0))
        values = auto_recipe(*sizes, max_minutes=minutes)
    values.update(file_values)
    values.update(given)
    config = TrainConfig.from_flat(values)
    config.validate()
    return config
