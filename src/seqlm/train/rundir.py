"""A training run's directory: claimed with its config.json first, locked while in use.

What can go wrong without this, and what each step prevents:
- a run killed inside its first checkpoint used to leave `trainer.safetensors` without
  `config.json`, a directory neither `--resume` nor `--out` would take: the claim writes
  config.json before any other file, so a directory always says what it holds;
- two runs with the same `--out` used to interleave their files: an OS file lock on
  `DIR/.lock` (`filelock`; the kernel drops it when the process dies, so a killed run
  never leaves a stale lock) makes the second one stop at once, naming the holder's PID
  (which the holder writes to `DIR/.lock.pid`);
- a resumed run used to repeat the metric rows written after its last checkpoint:
  `trim_metrics` drops them;
- temporaries of killed writers are swept when the directory is opened.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from seqlm.io import SeqlmError, atomic_write_text, check_writable_dir, sweep_stale_temporaries
from seqlm.modeldir import RUN_LOCK_FILES, check_model_target


def rank_zero() -> bool:
    """A plain run, or torchrun's rank 0: the process that checks and claims the run
    directory and plans the run. The other ranks would race it (it may already hold the
    lock they would test)."""
    return int(os.environ.get("RANK", "0")) == 0


class RunDirectory:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock: FileLock | None = None

    def lock(self) -> None:
        """Hold DIR/.lock for this process, or a one-line error naming the holder."""
        check_writable_dir(self.path)
        lock = FileLock(self.path / ".lock")
        try:
            lock.acquire(timeout=0)  # fail fast: never wait for another run
        except Timeout:
            raise SeqlmError(
                f"{self.path} is locked by PID {self._holder()} "
                "(another seqlm run is training there)"
            ) from None
        try:
            atomic_write_text(self.path / ".lock.pid", f"{os.getpid()}\n")
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        sweep_stale_temporaries(self.path, min_age_s=0)

    def _holder(self) -> str:
        try:
            text = (self.path / ".lock.pid").read_text(errors="replace")
        except OSError:
            return "?"
        return (text.split() or ["?"])[0][:32]  # one line, whatever the file holds

    def busy(self) -> None:
        """A one-line error if another process holds the directory's lock."""
        if (self.path / ".lock").exists():
            self.lock()
            self.release()

    def release(self) -> None:
        if self._lock is not None:
            (self.path / ".lock.pid").unlink(missing_ok=True)  # before another run can lock
            self._lock.release()
            self._lock = None

    def claim(
        self, write_config: Callable[[], None], resume: bool, overwrite: bool = False
    ) -> None:
        """Lock the directory; a new run then writes its config.json before anything else.
        A new run starts only where no model is (`modeldir.check_model_target`); with
        `overwrite`, the model there is deleted now (a run is resumable in place, so it
        cannot be built aside and swapped in at the end as other savers do)."""
        self.lock()
        if resume:
            return
        try:
            check_model_target(self.path, overwrite)
            for entry in os.scandir(self.path) if overwrite else ():
                if entry.name in RUN_LOCK_FILES:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
        except BaseException:
            self.release()
            raise
        write_config()

    def trim_metrics(self, step: int) -> None:
        """Keep the metric rows up to `step` (the checkpoint a resumed run continues from)."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a row cut short by a kill
            if isinstance(row, dict) and row.get("step", 0) <= step:
                kept.append(line)
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))
