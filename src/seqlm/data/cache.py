"""The corpus cache: encoded corpora as ``.npy`` files, memory-mapped on reload.

An entry is a folder named by a digest of the sources' content and the tokenizer
settings. Its ``meta.json`` records, for every array, the dtype, shape, id range and a
SHA-256 of the bytes, the vocabulary file's SHA-256, and a SHA-256 of the metadata
itself (so the out-of-vocabulary counts and the texts' byte and word counts cannot
change either). Every load checks them all
(hashing the ids costs about 2 ms on PTB, less than hashing the sources to find the
entry), so a rewritten, zeroed, shortened or out-of-range file can never pass for the
corpus: the entry is discarded with a one-line warning and rebuilt.

Entries are written into a ``.<digest>.<pid>.<random>.tmp`` folder and renamed into
place, so no process ever sees half an entry; a damaged entry is renamed aside before it
is deleted, so deleting it cannot touch an entry another process has just stored.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import secrets
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

from seqlm.data.vocab import Vocab
from seqlm.io import digest, json_digest, sweep_stale_temporaries, temp_prefix

CACHE_VERSION = 3  # 3: the texts' sizes (bytes, words) per split
SPLITS = ("train", "valid", "test")


class CacheDamaged(Exception):
    """An entry that does not match its own metadata (never reaches the user)."""


def cache_root() -> Path:
    return Path(os.environ.get("SEQLM_CACHE") or user_cache_dir("seqlm")) / "corpora"


def key_digest(key: dict) -> str:
    return json_digest({"cache_version": CACHE_VERSION, **key}, 24)


def _describe(array: np.ndarray, ids: bool) -> dict:
    sha, low, high = _scan(array, ids)
    info = {"dtype": array.dtype.str, "shape": list(array.shape), "sha256": sha}
    if ids:
        info["min"], info["max"] = low, high
    return info


def _meta_digest(meta: dict) -> str:
    """Covers the out-of-vocabulary counts and the recorded checksums themselves."""
    return json_digest(meta)


def load(key: dict) -> tuple[Vocab, dict, dict, dict, dict] | None:
    """(vocab, splits, oov, marks, sizes) of the entry for `key`, verified (sizes: per split,
    the text's (UTF-8 bytes, words)); None if there is no
    usable entry (a damaged one is discarded with a warning)."""
    root = cache_root()
    sweep_stale_temporaries(root)  # what killed writers left behind
    folder = root / key_digest(key)
    try:
        if not folder.exists():
            return None
    except OSError:  # a cache we may not look into is no cache (storing will warn)
        return None
    try:
        return _load_verified(folder, key)
    except Exception as e:  # noqa: BLE001 - derived data: whatever is wrong, rebuild it
        # (np.load alone raises ValueError, OSError, EOFError, tokenize.TokenError, ...)
        reason = str(e) if isinstance(e, CacheDamaged) else f"unreadable: {type(e).__name__}"
        warnings.warn(f"corpus cache entry {folder} {reason}; rebuilding it", stacklevel=3)
        _discard(folder)
        return None


def _load_verified(folder: Path, key: dict) -> tuple[Vocab, dict, dict, dict, dict]:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION:
        raise CacheDamaged("has an unknown format")
    if meta.pop("sha256", None) != _meta_digest(meta):
        raise CacheDamaged("has modified metadata")
    if json_digest(meta["key"]) != json_digest(key):
        raise CacheDamaged("belongs to other sources")
    vocab_info = meta["vocab"]
    vocab_bytes = (folder / "vocab.json").read_bytes()
    if digest(vocab_bytes) != vocab_info["sha256"]:
        raise CacheDamaged("has a modified vocabulary")
    vocab = Vocab.load(folder / "vocab.json")
    if len(vocab) != vocab_info["size"]:
        raise CacheDamaged("has a modified vocabulary")
    arrays = {}
    for name, info in meta["arrays"].items():
        arrays[name] = _load_array(folder, name, info, len(vocab) if name in SPLITS else None)
    splits = {s: arrays[s] for s in SPLITS}
    oov = meta["oov"]
    for s in SPLITS:
        if not isinstance(oov.get(s), int) or not 0 <= oov[s] <= len(splits[s]):
            raise CacheDamaged("has bad out-of-vocabulary counts")
    marks = {s: {m: arrays[f"{s}.{m}"] for m in meta["marks"]} for s in SPLITS}
    return vocab, splits, oov, marks if meta["marks"] else {}, _sizes(meta.get("sizes"))


def _sizes(sizes: object) -> dict[str, tuple[int, int]]:
    """Per split, the text's (bytes, words), checked: two counts >= 0."""
    if not isinstance(sizes, dict) or not all(
        isinstance(sizes.get(s), list)
        and len(sizes[s]) == 2
        and all(type(n) is int and n >= 0 for n in sizes[s])
        for s in SPLITS
    ):
        raise CacheDamaged("has bad text sizes")
    return {s: (sizes[s][0], sizes[s][1]) for s in SPLITS}


def _load_array(folder: Path, name: str, info: dict, vocab_size: int | None) -> np.ndarray:
    array = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
    if array.dtype.str != info["dtype"] or list(array.shape) != info["shape"]:
        raise CacheDamaged(f"has a {name} array of the wrong type or length")
    ids = vocab_size is not None and array.size > 0
    sha, low, high = _scan(array, ids)
    if ids and (low < 0 or high >= vocab_size or (low, high) != (info["min"], info["max"])):
        raise CacheDamaged(f"has {name} ids out of their range")
    if sha != info["sha256"]:
        raise CacheDamaged(f"has a modified {name} array (checksum mismatch)")
    return array


SCAN_BYTES = 1 << 25


def _scan(array: np.ndarray, ids: bool) -> tuple[str, int, int]:
    """SHA-256 (and for ids, min and max) of an array, a block at a time; a mapped one's
    pages are handed back once read: verifying would otherwise bring the whole file into
    this process's resident set (400 MB at 100M tokens). The kernel keeps them cached."""
    flat, h = array.reshape(-1), hashlib.sha256()
    step = max(1, SCAN_BYTES // max(1, array.itemsize))
    lows, highs = [], []
    for start in range(0, flat.size, step):
        block = flat[start : start + step]
        h.update(memoryview(np.ascontiguousarray(block)).cast("B"))
        if ids:
            lows.append(int(block.min()))
            highs.append(int(block.max()))
        _release(array, start * array.itemsize, block.nbytes)
    return h.hexdigest(), min(lows, default=0), max(highs, default=-1)


def _release(array: np.ndarray, start: int, length: int) -> None:
    """madvise(DONTNEED) the pages of `length` bytes from `start` of the data (numpy maps
    the file from the allocation boundary below the .npy header)."""
    if not isinstance(array.base, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return
    first = array.offset % mmap.ALLOCATIONGRANULARITY + start
    aligned = first - first % mmap.PAGESIZE
    array.base.madvise(mmap.MADV_DONTNEED, aligned, first + length - aligned)


def _discard(folder: Path) -> None:
    """Rename the entry aside, then delete it: the path is free at once, and deleting never
    races with a fresh entry that another process renames into place."""
    trash = folder.with_name(f"{temp_prefix(folder)}{secrets.token_hex(4)}.tmp")
    try:
        os.rename(folder, trash)
    except OSError:  # already gone (another process discarded it)
        return
    shutil.rmtree(trash, ignore_errors=True)


def store(key: dict, vocab: Vocab, splits: dict, oov: dict, marks: dict, sizes: dict) -> None:
    """Write the entry for `key`; a cache that cannot be written only costs a warning."""
    root = cache_root()
    folder = root / key_digest(key)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(folder), suffix=".tmp", dir=root))
    except OSError as e:
        warnings.warn(f"cannot write the corpus cache in {root} ({e.strerror})", stacklevel=3)
        return
    try:
        arrays = {}
        for split, ids in splits.items():
            np.save(tmp / f"{split}.npy", ids)
            arrays[split] = _describe(ids, ids=True)
            for mark, values in marks.get(split, {}).items():
                np.save(tmp / f"{split}.{mark}.npy", values)
                arrays[f"{split}.{mark}"] = _describe(values, ids=False)
        vocab.save(tmp / "vocab.json")
        vocab_sha = digest((tmp / "vocab.json").read_bytes())
        meta = {
            "version": CACHE_VERSION,
            "key": key,
            "oov": oov,
            "sizes": {s: list(sizes[s]) for s in SPLITS},
            "marks": sorted(marks.get("train", {})),
            "vocab": {"size": len(vocab), "sha256": vocab_sha},
            "arrays": arrays,
        }
        meta["sha256"] = _meta_digest(meta)
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:  # another process stored the same entry first
            pass
    except OSError as e:
        warnings.warn(f"cannot write the corpus cache in {root} ({e.strerror})", stacklevel=3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
