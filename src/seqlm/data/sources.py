"""Training text from where users keep it: JSONL and Parquet files with a text field, a
Hugging Face dataset saved with ``save_to_disk``, and compressed text (`.gz`, `.xz`,
`.zst`), each read as the plain text file it stands for.

The source is streamed once (constant memory) into a text file, one document per line, in
seqlm's cache, keyed by the digest of its content and the field; from there it is the
single text file it would be on disk, so it is split and tokenized exactly as that file
is, and gives the same corpus. A saved `DatasetDict` whose splits are train, validation
(or valid) and test gives those three splits as they are.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from seqlm.data.cache import cache_root
from seqlm.data.documents import (
    dataset_files,
    detect_format,
    is_plain_text,
    open_binary,
    read_documents,
    split_field,
)
from seqlm.data.download import file_digest
from seqlm.data.text import shown
from seqlm.io import SeqlmError, atomic_write, json_digest

SPLIT_NAMES = {"train": ("train",), "valid": ("validation", "valid"), "test": ("test",)}


def text_files(source: str) -> list[Path] | None:
    """One text file (to split by fractions) or three (train, valid, test) holding the text
    of `source`; None when `source` is already a plain text file, a corpus directory or a
    name (nothing to convert)."""
    path_text, field = split_field(source)
    try:
        path = Path(path_text).expanduser()
        exists = path.exists()
    except (OSError, RuntimeError, ValueError):
        return None
    if not exists:
        return None
    if path.is_dir():
        if (path / "dataset_dict.json").exists():
            return [_converted(part, field) for part in _dict_splits(path)]
        if not (path / "state.json").exists():
            return None
    elif field is None and is_plain_text(path):
        return None
    return [_converted(path, field)]


def _dict_splits(path: Path) -> list[Path]:
    found = []
    for split, names in SPLIT_NAMES.items():
        folder = next((path / n for n in names if (path / n / "state.json").exists()), None)
        if folder is None:
            raise SeqlmError(
                f"{shown(path)}: a DatasetDict without a {split} split "
                f"(expected {' or '.join(names)}; or name one split's folder)"
            )
        found.append(folder)
    return found


def _converted(path: Path, field: str | None) -> Path:
    """The cached text file of `path` (written now if missing)."""
    fmt = detect_format(path)
    if fmt == "text" and field is not None:
        raise SeqlmError(f"{shown(path)}: a text file has no fields (drop ':{field}')")
    files = dataset_files(path) + [path / "state.json"] if fmt == "dataset" else [path]
    key = {"sources": [file_digest(f) for f in files], "format": fmt, "field": field, "v": 1}
    target = cache_root().parent / "sources" / f"{json_digest(key, 24)}.txt"
    if target.exists():
        return target
    atomic_write(target, lambda tmp: _write_text(path, fmt, field, tmp))
    if target.stat().st_size == 0:
        target.unlink()
        raise SeqlmError(f"{shown(path)}: no text")
    return target


def _write_text(path: Path, fmt: str, field: str | None, tmp: str) -> None:
    if fmt == "text":  # compressed text: its bytes, decompressed, as they are
        with open_binary(path) as source, open(tmp, "wb") as out:
            try:
                shutil.copyfileobj(source, out, 1 << 20)
            except (EOFError, ValueError) as e:
                raise SeqlmError(f"{shown(path)}: cannot decompress ({e})") from None
            except OSError as e:
                if e.errno is not None:
                    raise
                raise SeqlmError(f"{shown(path)}: cannot decompress ({e})") from None
            except Exception as e:  # zstandard.ZstdError
                if type(e).__module__.startswith("zstandard"):
                    raise SeqlmError(f"{shown(path)}: cannot decompress ({e})") from None
                raise
        return
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for doc in read_documents(path, field, fmt=fmt):
            out.write(doc.text if doc.text.endswith("\n") else doc.text + "\n")
