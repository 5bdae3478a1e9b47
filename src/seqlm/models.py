"""Loading any saved model by what its directory (or file) says it is."""

from __future__ import annotations

import json
from pathlib import Path

from seqlm.errors import SeqlmError
from seqlm.lm import LanguageModel


def model_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise SeqlmError(f"{path}: no such model directory or file")
    if path.is_file():
        return {"kind": "ngram", "arpa": True}
    return read_config(path)


def read_config(path: Path) -> dict:
    """A model directory's config.json, checked to be one (one-line errors otherwise)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeqlmError(f"{path}: no config.json (not a seqlm model directory)") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SeqlmError(f"{path}/config.json: corrupt") from None
    if not isinstance(config, dict) or "kind" not in config:
        raise SeqlmError(f"{path}/config.json: not a seqlm model config")
    return config


def load_model(path: str | Path, device: str | None = None) -> LanguageModel:
    """A model directory written by seqlm, or an ARPA file (`.arpa`, `.arpa.gz`)."""
    config = model_config(path)
    if config["kind"] == "ngram":
        from seqlm.ngram import NgramLM

        return NgramLM.from_arpa(path) if config.get("arpa") else NgramLM.load(path)
    from seqlm.nn.checkpoint import load_recurrent

    return load_recurrent(path, device=device)
