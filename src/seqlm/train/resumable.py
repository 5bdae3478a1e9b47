"""What a training run saves to resume exactly, and how it reads it back.

`trainer.safetensors` holds the latest weights, the optimizer's state, every stream's hidden
state, the RNG states of all ranks and, once NT-ASGD averages, the running average; the
`Progress` (step, epoch, window, tokens, timings, validation history) is its JSON metadata.
One file, written atomically: a run killed at any instant resumes from its last checkpoint
and ends exactly as an uninterrupted run would.

This module is the file format only, below the trainer (which decides what goes in and
applies what comes out: `Trainer.save_resumable` / `Trainer.restore`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from safetensors import safe_open

from seqlm.data.spec import CorpusSpec
from seqlm.io import SeqlmError, atomic_write_text
from seqlm.modeldir import read_config
from seqlm.nn.checkpoint import load_tensors, save_tensors
from seqlm.train.config import TrainConfig

CHECKPOINT = "trainer.safetensors"


@dataclass
class Progress:
    """Where a run stands. Saved with every checkpoint and as `trainer.json` (read by people,
    tests and `seqlm serve`), under these names: the keys older checkpoints wrote."""

    step: int = 0
    epoch: int = 0
    window: int = 0  # windows of the current epoch done: where a resumed epoch goes on
    tokens: int = 0  # trained on, all ranks together
    elapsed: float = 0.0  # seconds of training, validation apart
    best_valid: float | None = None
    bad_evals: int = 0  # validations since the best one (early stopping, SGD decay)
    sgd_lr: float = 0.0  # SGD's and NT-ASGD's lr, divided as validation stalls
    history: list[dict] = field(default_factory=list)  # one entry per validation
    eval_s: float = 0.0  # seconds of validation
    # Added after the first checkpoints were written: absent from older ones.
    last_eval_step: int | None = None
    last_eval_elapsed: float = 0.0
    average_from_step: int | None = None  # NT-ASGD's switch to averaging
    last_eval_s: float = 0.0  # the last validation's cost: what the next is expected to take
    average_count: int = 0  # steps averaged so far

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Progress:
        """Older checkpoints lack the later fields (their defaults apply); unknown keys,
        from a newer seqlm, are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def budget_spent(self, includes_eval: bool) -> float:
        """Seconds counted against --max-minutes: training only, or with
        --budget-includes-eval its validation too plus one more check's worth (the check
        of the last weights when the run stops), so the whole run keeps to the budget."""
        if not includes_eval:
            return self.elapsed
        return self.elapsed + self.eval_s + self.last_eval_s


@dataclass
class Checkpoint:
    """The contents of `trainer.safetensors`: tensors by name, the rest as JSON."""

    tensors: dict[str, torch.Tensor]
    progress: Progress
    param_groups: list[dict]  # the optimizer's hyperparameters, per group
    world_size: int = 1  # processes that wrote it: their RNG states apply only to as many
    scaler: dict | None = None  # fp16's loss scale

    def write(self, out: Path) -> None:
        """`trainer.safetensors`, then `trainer.json` (the progress, for reading)."""
        meta = {
            "progress": self.progress.to_json(),
            "param_groups": self.param_groups,
            "world_size": self.world_size,
            "scaler": self.scaler,
        }
        save_tensors(out / CHECKPOINT, self.tensors, {"trainer": json.dumps(meta)})
        atomic_write_text(out / "trainer.json", json.dumps(meta["progress"], indent=2))

    @classmethod
    def read(cls, out: Path) -> Checkpoint:
        path = out / CHECKPOINT
        tensors = load_tensors(path)
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("trainer", "{}"))
        if "progress" not in meta:
            raise SeqlmError(f"{path}: no training progress recorded")
        return cls(
            tensors,
            Progress.from_json(meta["progress"]),
            meta["param_groups"],
            meta.get("world_size", 1),
            meta.get("scaler"),
        )

    def with_prefix(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors named `prefix.*`, without the prefix."""
        return {k[len(prefix) :]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    def hidden(self) -> list[torch.Tensor]:
        """The streams' flattened hidden state, all ranks' streams side by side."""
        t = self.tensors
        return [t[f"hidden.{i}"] for i in range(len(t)) if f"hidden.{i}" in t]

    def optimizer_state(self, current: dict, device: torch.device) -> dict:
        """`current` (the optimizer's state dict) with the saved state and hyperparameters."""
        state: dict = {}
        for key, value in self.tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value.to(device)
        for group, saved in zip(current["param_groups"], self.param_groups, strict=True):
            group.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
        return {**current, "state": state}


def pack_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """An optimizer's state as tensors `optim.{param}.{name}`, and its hyperparameters."""
    tensors = {}
    for index, state in state_dict["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value)
    groups = [{k: v for k, v in g.items() if k != "params"} for g in state_dict["param_groups"]]
    return tensors, groups


def resume_config(out: str | Path) -> tuple[TrainConfig, CorpusSpec]:
    """The training settings and corpus a run in `out` was started with."""
    config = read_config(Path(out))
    if not isinstance(config.get("train"), dict) or not isinstance(config.get("model"), dict):
        raise SeqlmError(f"{out}: not a recurrent training run")
    model = {k: v for k, v in config["model"].items() if k != "vocab_size"}
    settings = TrainConfig.from_flat({**model, **config["train"]}, f"{out}/config.json")
    return settings, CorpusSpec.from_json(config.get("corpus")).located(out)
