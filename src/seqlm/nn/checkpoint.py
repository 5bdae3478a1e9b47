"""Model directories for recurrent LMs: config.json + vocab.json + model.safetensors.

safetensors holds only tensors (no pickle: loading a stranger's checkpoint cannot run
code), tensors are saved on the CPU so a GPU-trained model loads anywhere, and every file
is written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from seqlm import __version__
from seqlm.data.vocab import Vocab
from seqlm.errors import SeqlmError
from seqlm.io import atomic_write, atomic_write_text
from seqlm.models import read_config as read_model_config
from seqlm.nn.model import ModelConfig, RecurrentLM

FORMAT_VERSION = 1


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None):
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(cpu, tmp, metadata=metadata))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise SeqlmError(f"{path}: missing")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise SeqlmError(f"{path}: corrupt or truncated checkpoint ({str(e)[:60]})") from None


def write_config(directory: Path, model: RecurrentLM, extra: dict | None = None) -> None:
    config = {
        "kind": model.kind,
        "format_version": FORMAT_VERSION,
        "seqlm_version": __version__,
        "model": model.config.to_json(),
        "level": model.vocab.level,
        **(extra or {}),
    }
    atomic_write_text(directory / "config.json", json.dumps(config, indent=2))


def save_recurrent(model: RecurrentLM, directory: str | os.PathLike, extra: dict | None = None):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_tensors(directory / "model.safetensors", model.canonical_state())
    model.vocab.save(directory / "vocab.json")
    write_config(directory, model, extra)
    return directory


def read_config(directory: Path) -> dict:
    config = read_model_config(directory)
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise SeqlmError(f"{directory}: checkpoint format v{config['format_version']} was "
                         f"written by a newer seqlm; upgrade seqlm to load it")  # fmt: skip
    return config


def build_model(config: dict, vocab: Vocab, backend: str) -> RecurrentLM:
    try:
        model_config = ModelConfig(**config["model"])
    except (KeyError, TypeError) as e:
        raise SeqlmError(f"config.json: bad model section ({e})") from None
    return RecurrentLM(model_config, vocab, backend)


def load_recurrent(
    directory: str | os.PathLike, device: str | None = None, backend: str | None = None
) -> RecurrentLM:
    """Load for inference; `backend` defaults to the one it was trained with."""
    directory = Path(directory)
    config = read_config(directory)
    vocab = Vocab.load(directory / "vocab.json")
    model = build_model(config, vocab, backend or config.get("train", {}).get("backend", "fused"))
    model.load_canonical(load_tensors(directory / "model.safetensors"))
    model.info = config
    return model.to(device or "cpu").eval()
