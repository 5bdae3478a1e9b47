"""Model directories for recurrent LMs: config.json + vocab.json + model.safetensors.

safetensors holds only tensors (no pickle: loading a stranger's checkpoint cannot run
code), tensors are saved on the CPU so a GPU-trained model loads anywhere, and every file
is written atomically (temporary file + rename).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from seqlm.data.vocab import Vocab
from seqlm.io import SeqlmError, atomic_write
from seqlm.manifest import check, discard_manifest, write_manifest
from seqlm.modeldir import read_config, write_config
from seqlm.nn.build import build_model as build
from seqlm.nn.config import ModelConfig
from seqlm.nn.recurrent import RecurrentLM
from seqlm.settings import from_dict


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None):
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}

    def write(tmp: str) -> None:
        try:
            save_file(cpu, tmp, metadata=metadata)
        except SafetensorError as e:  # its I/O errors, as the OSError they are
            code = errno.ENOSPC if "no space left" in str(e).lower() else errno.EIO
            raise OSError(code, os.strerror(code), tmp) from None

    atomic_write(path, write)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise SeqlmError(f"{path}: missing")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise SeqlmError(f"{path}: corrupt or truncated checkpoint ({str(e)[:60]})") from None


def write_model_config(directory: Path, model: RecurrentLM, sections: dict | None = None) -> None:
    """config.json for `model`, then the manifest (which lists it); `sections` adds the
    corpus and training settings."""
    discard_manifest(directory)
    write_config(
        directory,
        model.kind,
        {
            "model": model.config.to_json(),
            "level": model.vocab.level,
            "tokenizer": model.vocab.tokenizer_name,
            **(sections or {}),
        },
    )
    write_manifest(directory)


def save_recurrent(model: RecurrentLM, directory: str | os.PathLike, sections: dict | None = None):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    discard_manifest(directory)  # none until the last file is written
    save_tensors(directory / "model.safetensors", model.canonical_state())
    model.vocab.save(directory / "vocab.json")
    write_model_config(directory, model, sections)
    return directory


def build_model(config: dict, vocab: Vocab, backend: str) -> RecurrentLM:
    section = config.get("model")
    if not isinstance(section, dict):
        raise SeqlmError("config.json: no model section")
    return build(from_dict(ModelConfig, section, "config.json model section"), vocab, backend)


def load_recurrent(
    directory: str | os.PathLike,
    device: str | None = None,
    backend: str | None = None,
    verify: bool = False,
) -> RecurrentLM:
    """Load for inference; `backend` defaults to the one it was trained with. The files
    are checked against the manifest (`seqlm.manifest`; every digest with `verify`) and
    the weights must be finite."""
    directory = Path(directory)
    config = read_config(directory)
    check(directory, full=verify)
    vocab = Vocab.load(directory / "vocab.json")
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    model = build_model(config, vocab, backend or train.get("backend", "fused"))
    tensors = load_tensors(directory / "model.safetensors")
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SeqlmError(
                f"{directory / 'model.safetensors'}: {name} holds NaN or infinite weights (corrupt)"
            )
    model.load_canonical(tensors)
    model.info = config
    return model.to(device or "cpu").eval()
