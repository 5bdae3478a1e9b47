"""A model directory's `config.json`: read, checked, and upgraded from older layouts.

Every saved model (n-gram or recurrent) is a directory with `config.json`; this module sits
below both kinds so neither imports the other. Layout (format 2): `kind` (ngram, rnn,
lstm, gru), `corpus` (the `CorpusSpec` it was trained on), `model` (the model's settings)
and, for trained recurrent models, `train` (the training settings, the model's excluded),
each setting stored once. Format 1 (seqlm 0.1, before this layout) kept the corpus
settings at the top level and repeated the model settings inside `train`; it is upgraded
on read, so old directories load and resume unchanged.
"""

from __future__ import annotations

import json
from importlib.metadata import version as package_version
from pathlib import Path

from seqlm.io import SeqlmError, atomic_write_text

FORMAT_VERSION = 2
_CORPUS_KEYS = ("corpus", "level", "max_vocab", "min_count", "split_fractions")


def read_config(path: str | Path) -> dict:
    """A model directory's config.json in the current layout (one-line errors otherwise)."""
    path = Path(path)
    if not path.exists():
        raise SeqlmError(f"{path}: no such model directory or file")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeqlmError(f"{path}: no config.json (not a seqlm model directory)") from None
    except NotADirectoryError:
        raise SeqlmError(f"{path}: not a model directory") from None
    except PermissionError:
        raise SeqlmError(f"{path}/config.json: permission denied") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SeqlmError(f"{path}/config.json: corrupt") from None
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str):
        raise SeqlmError(f"{path}/config.json: not a seqlm model config")
    version = config.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SeqlmError(
            f"{path}: model format v{version} was written by a newer seqlm; "
            "upgrade seqlm to load it"
        )
    return upgrade(config) if version < FORMAT_VERSION else config


def upgrade(config: dict) -> dict:
    """Format 1 -> 2: corpus settings into `corpus`, the model's out of `train`, `cell`."""
    config = dict(config)
    if "corpus" in config and not isinstance(config["corpus"], dict):
        old = {k: config.pop(k, None) for k in _CORPUS_KEYS}
        config["corpus"] = {
            "source": old["corpus"],
            "level": old["level"],
            "max_vocab": old["max_vocab"],
            "min_count": old["min_count"] or 1,
            "split_fractions": _fractions(old["split_fractions"]),
        }
    model = config.get("model")
    if isinstance(model, dict) and "kind" in model:
        model = dict(model)
        model["cell"] = model.pop("kind")
        config["model"] = model
    train = config.get("train")
    if isinstance(train, dict) and isinstance(model, dict):
        config["train"] = {k: v for k, v in train.items() if k not in model and k != "model"}
    config["format_version"] = FORMAT_VERSION
    return config


def _fractions(value) -> list[float] | None:
    """Format 1 stored the flag's text, '0.8,0.1,0.1'."""
    if isinstance(value, str):
        try:
            return [float(x) for x in value.split(",")]
        except ValueError:
            raise SeqlmError(f"config.json: bad split_fractions {value!r}") from None
    return value


def write_config(directory: str | Path, kind: str, sections: dict) -> None:
    """config.json, atomically; `sections` are JSON-ready (corpus, model, train, ...)."""
    config = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "seqlm_version": package_version("seqlm"),
        **sections,
    }
    atomic_write_text(Path(directory) / "config.json", json.dumps(config, indent=2))
