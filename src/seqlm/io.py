"""Files, their digests and the errors a user sees.

`SeqlmError` is the one exception for every problem a user can fix (bad input, missing
data, a corrupt file); the CLI turns it into one line and exit code 2.

Atomic file writes: a crash mid-write leaves the old file or none, never half a file.

A write goes to a temporary ``.<name>.<pid>.<random>.tmp`` next to its target and is
renamed over it. The PID in the name lets `sweep_stale_temporaries` remove what a killed
process left behind without touching the temporaries of writers still running.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


class SeqlmError(Exception):
    """A user-facing error: bad input, missing data, corrupt file. The message is one line."""


# mkstemp's random part has no dots, so the PID is the second-last dotted field
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def temp_prefix(target: str | os.PathLike) -> str:
    """The prefix of this process's temporaries for `target` (pass with suffix ".tmp")."""
    return f".{Path(target).name}.{os.getpid()}."


def check_output_file(path: str | os.PathLike) -> Path:
    """`path` if a file may be written there: a new name or an existing regular file.

    A write renames a temporary file over its target, so it would replace a device
    (/dev/full), a FIFO or a symbolic link itself, not write into it: those are refused,
    as are directories. To write where a link points, name its target."""
    path = Path(path)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return path
    except OSError as e:
        raise SeqlmError(f"{path}: cannot write there ({(e.strerror or str(e)).lower()})") from None
    if stat.S_ISREG(info.st_mode):
        return path
    if stat.S_ISDIR(info.st_mode):
        raise SeqlmError(f"{path}: is a directory, expected a file")
    if stat.S_ISLNK(info.st_mode):
        raise SeqlmError(f"{path}: is a symbolic link; refusing to replace it (name its target)")
    what = (
        "a FIFO"
        if stat.S_ISFIFO(info.st_mode)
        else "a device"
        if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
        else "not a regular file"
    )
    raise SeqlmError(f"{path}: is {what}; refusing to replace it with a file")


# errors that are about where a file goes, whatever path the failing call named
_DESTINATION_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def name_destination(error: OSError, path: str | os.PathLike, *temps: str) -> OSError:
    """`error` naming `path` where it names a temporary of `path`, nothing, or (disk
    full, quota, read-only) anything: the user sees where the write went wrong."""
    if error.filename in (None, *temps) or error.errno in _DESTINATION_ERRORS:
        return type(error)(error.errno, error.strerror or str(error), str(path))
    return error


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, then rename the temporary file over `path` (a new name or
    a regular file: `check_output_file`). An `OSError` names `path`, not the temporary."""
    path = check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise name_destination(e, path) from None
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise name_destination(e, path, tmp) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def digest(data: str | bytes, length: int = 64) -> str:
    """The SHA-256 of `data` in hex, its first `length` digits."""
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()[:length]


def json_digest(obj: object, length: int = 64) -> str:
    """The digest of `obj` as JSON with sorted keys: the same for equal dicts in any order.
    It names cache entries and model directories on disk: changing the serialisation
    orphans them."""
    return digest(json.dumps(obj, sort_keys=True), length)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (on Windows, where signal 0
    would terminate the process, every process counts as alive)."""
    if os.name == "nt":
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OverflowError:
        return False
    return True


def sweep_stale_temporaries(directory: str | os.PathLike, min_age_s: float = 600.0) -> list[Path]:
    """Remove the temporaries (files or folders) in `directory` whose writer is no longer
    alive; return what was removed. A missing or unreadable directory sweeps nothing.

    Call it when a run or cache directory is opened. Only temporaries untouched for
    `min_age_s` go: a directory shared between machines (a home directory on NFS) holds
    temporaries whose PIDs mean nothing here, and their writers finish within seconds."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if match is None or pid_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < min_age_s:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:  # swept by another process first, or not ours to remove
            continue
        removed.append(path)
    return removed


def check_writable_dir(directory: str | os.PathLike) -> Path:
    """Create `directory` if needed and prove it writable, or a one-line error."""
    from seqlm.io import SeqlmError

    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except FileExistsError:
        raise SeqlmError(f"{path}: exists and is not a directory") from None
    except OSError as e:
        raise SeqlmError(f"{path}: cannot write there ({e.strerror})") from None
    return path
