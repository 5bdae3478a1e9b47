"""A model directory's `config.json`: read, checked, and upgraded from older layouts.

Every saved model (n-gram or recurrent) is a directory with `config.json`; this module sits
below both kinds so neither imports the other. Layout (format 2): `kind` (ngram, mixture,
or a --cell), `corpus` (the `CorpusSpec` it was trained on), `model` (the model's settings)
and, for trained recurrent models, `train` (the training settings, the model's excluded),
each setting stored once. Format 1 (seqlm 0.1, before this layout) kept the corpus
settings at the top level and repeated the model settings inside `train`; it is upgraded
on read, so old directories load and resume unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as package_version
from pathlib import Path

from seqlm.io import (
    TEMP_NAME,
    SeqlmError,
    atomic_write_text,
    name_destination,
    sweep_stale_temporaries,
    temp_prefix,
)
from seqlm.nn.config import CELLS

FORMAT_VERSION = 2
KINDS = ("ngram", *CELLS, "mixture")  # every --cell is a kind of model directory
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
    except RecursionError:
        raise SeqlmError(f"{path}/config.json: corrupt (nested too deeply)") from None
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str):
        raise SeqlmError(f"{path}/config.json: not a seqlm model config")
    if config["kind"] not in KINDS:
        raise SeqlmError(
            f"{path}/config.json: unknown model kind {config['kind'][:40]!r} "
            f"(seqlm reads {', '.join(KINDS)})"
        )
    version = config.get("format_version", 1)
    if type(version) is not int or version < 1:
        raise SeqlmError(
            f"{path}/config.json: format_version must be a positive integer, got {version!r:.40}"
        )
    if version > FORMAT_VERSION:
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


# -- writing a model directory ------------------------------------------------------------
# Every saver goes through `new_model_dir`, so no command replaces a model, or a folder of
# someone else's files, without being asked to (`--overwrite`, `overwrite=True`).
MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "trainer.safetensors",
    "vocab.json",
    "model.arpa",
)
RUN_LOCK_FILES = (".lock", ".lock.pid")  # what a finished or never-started run leaves


def model_kind(path: str | Path) -> str | None:
    """The kind of model `path` holds ("lstm", "ngram", ...; "partial" for model files
    without a readable config.json), or None if it holds no model files."""
    path = Path(path)
    try:
        kind = json.loads((path / "config.json").read_text(encoding="utf-8")).get("kind")
        if isinstance(kind, str) and kind.isprintable() and len(kind) < 40:
            return kind
    except (OSError, ValueError, AttributeError):
        pass
    return "partial" if any((path / name).exists() for name in MODEL_FILES) else None


def check_model_target(target: str | Path, overwrite: bool = False) -> Path:
    """`target` if a new model may be written there: a new name, an empty directory or,
    with `overwrite`, a model directory. Anything else is a one-line error naming it.
    A non-empty directory that holds no model is refused even with `overwrite`: it holds
    someone's files, which replacing it would delete."""
    target = Path(target)
    try:
        info = target.lstat()
    except FileNotFoundError:
        return target
    except OSError as e:
        raise SeqlmError(
            f"{target}: cannot write there ({(e.strerror or str(e)).lower()})"
        ) from None
    if stat.S_ISLNK(info.st_mode):
        raise SeqlmError(f"{target}: is a symbolic link; name the directory it points to")
    if not stat.S_ISDIR(info.st_mode):
        raise SeqlmError(f"{target}: exists and is not a directory")
    kind = model_kind(target)
    if kind is not None:
        if overwrite:
            return target
        run = any(
            (target / n).exists() for n in ("trainer.json", "trainer.safetensors", "metrics.jsonl")
        )
        raise SeqlmError(
            f"{target}: already holds a {'training run' if run else 'model'} ({kind}); "
            + ("continue it with --resume, " if run else "")
            + "pass --overwrite (overwrite=True) to replace it, or choose another directory"
        )
    try:
        names = [
            n for n in os.listdir(target) if n not in RUN_LOCK_FILES and not TEMP_NAME.match(n)
        ]
    except OSError as e:
        raise SeqlmError(
            f"{target}: cannot write there ({(e.strerror or str(e)).lower()})"
        ) from None
    if names:
        raise SeqlmError(
            f"{target}: not empty and not a model directory; choose a new or empty directory "
            "(--overwrite replaces model directories only)"
        )
    return target


@contextmanager
def new_model_dir(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Write a model directory: yields a temporary directory beside `target`, renamed to
    `target` once the block completes, so a failure or a kill leaves the old model (with
    `overwrite`, replaced only now) or none, never half of one. An `OSError` (disk full)
    names `target`; the temporary directory is removed."""
    target = check_model_target(target, overwrite)
    parent = target.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temporaries(parent)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".tmp", dir=parent))
    except OSError as e:
        raise name_destination(e, target) from None
    old = parent / f"{temp_prefix(target)}old.tmp"
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp creates 0700
        check_model_target(target, overwrite)  # nothing arrived there meanwhile
        moved = target.exists()
        if moved:
            os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            if moved:
                os.rename(old, target)
            raise
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        where = str(e.filename or "")
        if where.startswith(str(tmp)):  # a file inside: name it where it was going
            e = type(e)(e.errno, e.strerror, str(target) + where[len(str(tmp)) :])
        raise name_destination(e, target, str(tmp)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if moved:
        shutil.rmtree(old, ignore_errors=True)
