"""What a training run saves to resume exactly, and how it reads it back.

`trainer.safetensors` holds the latest weights, the optimizer's state, every stream's hidden
state, the RNG states of all ranks and, once NT-ASGD averages, the running average; the
progress (step, epoch, window, tokens, timings, validation history) is its JSON metadata.
One file, written atomically: a run killed at any instant resumes from its last checkpoint
and ends exactly as an uninterrupted run would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import safe_open

from seqlm.data.spec import CorpusSpec
from seqlm.io import SeqlmError, atomic_write_text
from seqlm.modeldir import read_config
from seqlm.nn.checkpoint import load_tensors, save_recurrent, save_tensors, write_model_config
from seqlm.train.asgd import WeightAverage
from seqlm.train.config import TrainConfig
from seqlm.train.distributed import gather_columns, gather_cpu

if TYPE_CHECKING:
    from seqlm.train.trainer import Trainer


def save_resumable(trainer: Trainer) -> None:
    """Every rank calls this (the hidden states and RNGs are gathered); rank 0 writes."""
    hidden = [
        gather_columns(t, trainer.world, dim=0) for t in trainer.model.flatten_state(trainer.hidden)
    ]
    rngs = gather_cpu(torch.get_rng_state(), trainer.world, trainer.device)
    if not trainer.world.main:
        return
    tensors = {f"model.{k}": v for k, v in trainer.model.canonical_state().items()}
    opt = trainer.optimizer.state_dict()
    for index, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value)
    for i, t in enumerate(hidden):
        tensors[f"hidden.{i}"] = t
    if trainer.average is not None:
        tensors.update(trainer.average.tensors())
        trainer.progress["average_count"] = trainer.average.count
    tensors["rng.cpu"] = rngs[0]
    for rank, rng in enumerate(rngs[1:], 1):
        tensors[f"rng.cpu.{rank}"] = rng
    if trainer.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(trainer.device)
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt["param_groups"]]
    meta = {
        "progress": trainer.progress,
        "param_groups": groups,
        "world_size": trainer.world.size,
        "scaler": trainer.scaler.state_dict() if trainer.scaler.is_enabled() else None,
    }
    save_tensors(trainer.out / "trainer.safetensors", tensors, {"trainer": json.dumps(meta)})
    atomic_write_text(trainer.out / "trainer.json", json.dumps(meta["progress"], indent=2))
    if not (trainer.out / "model.safetensors").exists():  # nothing evaluated yet
        save_recurrent(trainer.model, trainer.out, trainer._config_extra())
    else:
        write_model_config(trainer.out, trainer.model, trainer._config_extra())


def restore(trainer: Trainer) -> None:
    """The run's state as the last checkpoint left it, on this rank."""
    path = trainer.out / "trainer.safetensors"
    tensors = load_tensors(path)
    with safe_open(str(path), "pt") as f:
        meta = json.loads((f.metadata() or {}).get("trainer", "{}"))
    if "progress" not in meta:
        raise SeqlmError(f"{path}: no training progress recorded")
    trainer.model.load_canonical({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt = trainer.optimizer.state_dict()
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value.to(trainer.device)
    for group, saved in zip(opt["param_groups"], meta["param_groups"], strict=True):
        group.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    opt["state"] = state
    trainer.optimizer.load_state_dict(opt)
    if meta.get("scaler") and trainer.scaler.is_enabled():
        trainer.scaler.load_state_dict(meta["scaler"])
    hidden = [tensors[f"hidden.{i}"] for i in range(len(tensors)) if f"hidden.{i}" in tensors]
    per_rank = trainer.config.batch_size // trainer.world.size
    rows = slice(trainer.world.rank * per_rank, (trainer.world.rank + 1) * per_rank)
    hidden = [h[rows].contiguous().to(trainer.device) for h in hidden]  # this rank's streams
    trainer.hidden = trainer.model.unflatten_state(hidden)
    rng = "rng.cpu" if trainer.world.rank == 0 else f"rng.cpu.{trainer.world.rank}"
    if meta.get("world_size", 1) == trainer.world.size and rng in tensors:
        torch.set_rng_state(tensors[rng])
    else:  # resumed on another number of processes: dropout masks are drawn afresh
        torch.manual_seed(
            trainer.config.seed + trainer.world.rank + 7919 * meta["progress"]["step"]
        )
    if "rng.cuda" in tensors and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], trainer.device)
    trainer.progress = meta["progress"]
    if "average.0" in tensors:
        trainer.average = WeightAverage(list(trainer.model.parameters()))
        trainer.average.load(tensors, trainer.progress["average_count"])


def resume_config(out: str | Path) -> tuple[TrainConfig, CorpusSpec]:
    """The training settings and corpus a run in `out` was started with."""
    config = read_config(Path(out))
    if not isinstance(config.get("train"), dict) or not isinstance(config.get("model"), dict):
        raise SeqlmError(f"{out}: not a recurrent training run")
    model = {k: v for k, v in config["model"].items() if k != "vocab_size"}
    settings = TrainConfig.from_flat({**model, **config["train"]}, f"{out}/config.json")
    return settings, CorpusSpec.from_json(config.get("corpus"))
