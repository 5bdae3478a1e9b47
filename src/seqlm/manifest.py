"""Integrity of model directories: `manifest.json`, each model file's size and SHA-256.

A saver writes the manifest last, after every file it lists, and removes the old one
before it touches any file (`discard_manifest`): a directory interrupted mid-save has no
manifest rather than a wrong one. Loading checks every listed file's size and, smallest
first, the digests of files until `DIGEST_BUDGET` bytes (64 MiB) have been read, so a
model of any size opens at once; larger memory-mapped tables are hashed by
`seqlm verify DIR` (`check(..., full=True)`, or `load(..., verify=True)`). A directory
without a manifest (written before seqlm had one) loads with a one-line note.

Only the files that make up the model are listed (`MODEL_FILES`, `ngram*.npy`): a training
run's own files (trainer state, metrics, lock) change after the model is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from seqlm.io import SeqlmError, atomic_write_text

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
DIGEST_BUDGET = 64 * 2**20  # bytes hashed on every load, smallest files first
MODEL_FILES = ("config.json", "vocab.json", "tokenizer.json", "model.safetensors", "model.arpa")

log = logging.getLogger(__name__)


def model_files(directory: str | os.PathLike) -> list[str]:
    """The model files present in `directory`, by name."""
    directory = Path(directory)
    names = [name for name in MODEL_FILES if (directory / name).is_file()]
    return names + sorted(p.name for p in directory.glob("ngram*.npy") if p.is_file())


def file_sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def discard_manifest(directory: str | os.PathLike) -> None:
    """Call before rewriting a model in place: until `write_manifest`, it has none."""
    Path(directory, MANIFEST).unlink(missing_ok=True)


def write_manifest(directory: str | os.PathLike, names: list[str] | None = None) -> Path:
    """List `names` (default: every model file present) with sizes and digests; call it
    after the last model file is written."""
    directory = Path(directory)
    files = {}
    for name in model_files(directory) if names is None else names:
        path = directory / name
        files[name] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    text = json.dumps({"manifest_version": MANIFEST_VERSION, "files": files}, indent=2)
    atomic_write_text(directory / MANIFEST, text + "\n")
    return directory / MANIFEST


def read_manifest(directory: str | os.PathLike) -> dict[str, dict] | None:
    """{name: {"size", "sha256"}}, None without a manifest; one-line errors if corrupt."""
    path = Path(directory, MANIFEST)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SeqlmError(f"{path}: cannot read ({e.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise SeqlmError(f"{path}: corrupt manifest") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise SeqlmError(f"{path}: corrupt manifest")
    version = data.get("manifest_version")
    if type(version) is not int or version < 1:
        raise SeqlmError(f"{path}: corrupt manifest (manifest_version {version!r})")
    if version > MANIFEST_VERSION:
        raise SeqlmError(f"{path}: manifest v{version} was written by a newer seqlm")
    files = data["files"]
    for name, entry in files.items():
        if (
            Path(name).name != name
            or name in ("", ".", "..")
            or not isinstance(entry, dict)
            or type(entry.get("size")) is not int
            or not isinstance(entry.get("sha256"), str)
        ):
            raise SeqlmError(f"{path}: corrupt manifest (entry {name[:40]!r})")
    return files


def inspect(directory: str | os.PathLike, full: bool = False) -> list[tuple[str, str]] | None:
    """(file name, verdict) per listed file: "ok" (size and digest match), "size ok"
    (digest left for `full`) or what is wrong; None without a manifest."""
    directory = Path(directory)
    files = read_manifest(directory)
    if files is None:
        return None
    rows: dict[str, str] = {}
    budget = DIGEST_BUDGET
    for name, entry in sorted(files.items(), key=lambda item: (item[1]["size"], item[0])):
        path = directory / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            rows[name] = "missing"
            continue
        if size != entry["size"]:
            rows[name] = f"size {size:,} bytes, the manifest says {entry['size']:,}"
        elif full or size <= budget:
            budget -= size
            same = file_sha256(path) == entry["sha256"]
            rows[name] = "ok" if same else "SHA-256 differs from the manifest (corrupt)"
        else:
            budget = 0
            rows[name] = "size ok"
    return [(name, rows[name]) for name in sorted(rows)]


def check(directory: str | os.PathLike, full: bool = False) -> None:
    """Refuse a model whose files differ from its manifest, naming the first such file."""
    rows = inspect(directory, full)
    if rows is None:
        log.warning(
            "%s: no %s (an older model directory): its files are not checked", directory, MANIFEST
        )
        return
    for name, verdict in rows:
        if verdict not in ("ok", "size ok"):
            raise SeqlmError(f"{Path(directory, name)}: {verdict}")
