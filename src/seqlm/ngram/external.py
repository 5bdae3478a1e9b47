"""Counting n-grams within a memory budget: chunks, sorted runs on disk, streaming merges.

`counts.count_ngrams` holds ~200 bytes per token at once (positions, indices, the sort of
every order's keys). Here the corpus is cut at sentence ends into chunks that fit the
budget, and the orders are counted one after another, like lmplz's passes:

- order 1 is a bincount per chunk;
- for order n, each chunk finds the global index of every (n-1)-gram it contains from
  its previous run (where the merge put each of that run's types, and the run's saved
  `inverse`, position -> type), packs its n-grams as ``prefix index * base + word``
  exactly as the in-memory path does, and writes them sorted and counted as a run (keys,
  raw counts, suffix index, starts-with-<s>, inverse) to disk;
- the runs are merged in blocks: everything up to the smallest last key of the runs'
  current blocks is safe to combine, so memory holds one block per run;
- chunks are counted in parallel worker processes (fork) when there are several cores.

The merged counts are memory-mapped files, which `stream_estimate` smooths in passes;
the result is identical to the in-memory path, bit for bit.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from seqlm.ngram.counts import (
    OrderCounts,
    read_block,
    release_freed_memory,
    sentence_positions,
    stable_sort,
    unique_counts,
)

BYTES_PER_TOKEN = 200  # counts.count_ngrams' peak per chunk token (measured on PTB, order 5)
# the whole in-memory path (count, estimate) per token and order: measured 195 bytes per
# token for order 3, 321 for order 5 (1M recombined tokens, bench/ngram_scale.py)
IN_MEMORY_BYTES_PER_TOKEN_ORDER = 70
MERGE_BLOCK = 1 << 18  # entries per run per step, at most
MERGE_BYTES_PER_ENTRY = 128  # held per entry in a merge step (measured ~95)
FIELDS = (("keys", np.int64), ("raw", np.int64), ("suffix", np.int64), ("bos_initial", bool))


def default_memory() -> int:
    """A quarter of the machine's RAM (lmplz's default is 80%, which starves neighbours)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 1 << 30


SPILL_NAME = re.compile(r"^seqlm-ngram-(?P<pid>\d+)-[A-Za-z0-9_]+$")


def spill_directory(workdir: str | os.PathLike | None = None) -> tempfile.TemporaryDirectory:
    """A folder for the spilled runs, under `workdir` (default: the system's temporary
    folder), named with this process's PID. It is removed with the model that maps it, or
    at exit (an error, Ctrl-C and SIGTERM included); a folder left by a killed process is
    removed by the next one that spills there (`sweep_spill_folders`)."""
    sweep_spill_folders(workdir or tempfile.gettempdir())
    return tempfile.TemporaryDirectory(
        prefix=f"seqlm-ngram-{os.getpid()}-", dir=workdir, ignore_cleanup_errors=True
    )


def sweep_spill_folders(directory: str | os.PathLike, min_age_s: float = 60.0) -> list[Path]:
    """Remove the spill folders in `directory` whose process is no longer alive and that
    nothing touched for `min_age_s` (a PID from another machine or container means nothing
    here, but that folder's writer keeps touching it); return what was removed."""
    from seqlm.io import pid_alive

    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = SPILL_NAME.match(entry.name)
        if match is None or pid_alive(int(match["pid"])):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if time.time() - entry.stat(follow_symlinks=False).st_mtime < min_age_s:
                continue
            shutil.rmtree(entry.path)
        except OSError:  # removed by another process first, or not ours to remove
            continue
        removed.append(Path(entry.path))
    return removed


def parse_size(text: str) -> int:
    """'1G', '500M', '64K', '123' (bytes) or '25%' (of RAM) -> bytes, for a --memory flag."""
    from seqlm.io import SeqlmError

    shown = str(text).strip()
    text = shown.upper().removesuffix("B")
    ram = default_memory() * 4
    try:
        if text.endswith("%"):
            value, scale = float(text[:-1]) * ram / 100, 1
        else:
            scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(text[-1:], 1)
            value = float(text[:-1] if scale > 1 else text)
    except ValueError:
        value = -1
    if not (math.isfinite(value) and value > 0):  # nan, inf, 0, negative, not a number
        raise SeqlmError(f"bad memory size {shown!r} (e.g. 1G, 500M, 25%)")
    if value * scale > ram:
        raise SeqlmError(f"memory size {shown} is more than this machine's {ram / 2**30:.1f}G")
    return int(value * scale)


def chunk_bounds(ids: np.ndarray, eos: int, tokens_per_chunk: int) -> list[tuple[int, int]]:
    """[start, end) ranges of about `tokens_per_chunk` tokens, cut just after an `eos`."""
    n = len(ids)
    bounds, start = [], 0
    while start < n:
        end = min(start + tokens_per_chunk, n)
        if end < n:
            cut = np.flatnonzero(read_block(ids, start, end) == eos)
            if len(cut):
                end = start + int(cut[-1]) + 1
            else:  # a sentence longer than a chunk: extend to its end
                more = np.flatnonzero(read_block(ids, end, n) == eos)
                end = end + int(more[0]) + 1 if len(more) else n
        bounds.append((start, end))
        start = end
    return bounds


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def _load(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")


# -- one chunk --------------------------------------------------------------------------
_STATE: dict = {}  # what forked workers read: the corpus and its sentence ends


def _count_chunk(task: tuple[int, int, int, str]) -> str | np.ndarray:
    """Order-n run of one chunk, written to `out` (order 1: the bincount, returned).

    The global index of each (n-1)-gram in the chunk comes from the previous order's
    run: the merge recorded where each of its types went (`global`), and its `inverse`
    maps every position to its type, as `np.unique` does for the whole corpus in memory."""
    start, end, n, out = task
    ids, eos, bos = _STATE["ids"], _STATE["eos"], _STATE["bos"]
    base = bos + 1
    pos = sentence_positions(read_block(ids, start, end), eos, bos)
    tokens, position = pos.tokens, pos.position
    is_word = tokens != bos
    if n == 1:
        return np.bincount(tokens[is_word], minlength=base)
    if n == 2:
        index = tokens  # a unigram's index is its id
    else:
        previous = str(Path(out).with_name(_run_name(n - 1, Path(out).name)))
        where = np.load(f"{previous}.global.npy")
        inverse = np.load(f"{previous}.inverse.npy")
        index = np.full(len(tokens), -1, dtype=np.int64)
        valid = np.flatnonzero(is_word & (position + 2 >= n - 1))
        index[valid] = where[inverse]
    valid = np.flatnonzero(is_word & (position + 2 >= n))
    keys = index[valid - 1] * base + tokens[valid]
    types, first, inverse, raw = unique_counts(keys)
    run = {
        "keys": types,
        "raw": raw,
        "suffix": index[valid[first]],
        "bos_initial": position[valid[first]] + 2 == n,
    }
    if n < _STATE["order"]:
        run["inverse"] = inverse.astype(np.int32)
    for name, values in run.items():
        _save(Path(f"{out}.{name}.npy"), values)
    return out


def _run_name(n: int, name: str) -> str:
    """The name of order n's run of the chunk whose run (of any order) is `name`."""
    return f"run{n}.{name.split('.')[1]}"


def _map(tasks: list, workers: int) -> list:
    if workers <= 1 or len(tasks) <= 1 or "fork" not in mp.get_all_start_methods():
        return [_count_chunk(t) for t in tasks]
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(_count_chunk, tasks))


# -- merging runs -----------------------------------------------------------------------
class _NpyAppender:
    """A 1-D int64 .npy file of known length, written front to back."""

    def __init__(self, path: Path, length: int):
        self.file = open(path, "wb")  # noqa: SIM115
        header = {"descr": "<i8", "fortran_order": False, "shape": (length,)}
        np.lib.format.write_array_header_1_0(self.file, header)

    def write(self, values: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(values, dtype="<i8").tobytes())

    def close(self) -> None:
        self.file.close()


def merge_runs(
    runs: list[str], out: Path, record: bool = False, memory: int | None = None
) -> OrderCounts:
    """Sorted runs with unique keys -> one sorted array of unique keys, counts summed.
    `record`: write `{run}.global.npy`, the merged index of each of a run's keys.
    `memory`: a step takes fewer entries from each run so that it holds about half of it
    (a step's entries come from every run at once)."""
    block = MERGE_BLOCK
    if memory is not None:
        block = max(1 << 12, min(block, memory // 2 // (max(1, len(runs)) * MERGE_BYTES_PER_ENTRY)))
    columns = [{name: _load(Path(f"{r}.{name}.npy")) for name, _ in FIELDS} for r in runs]
    files = {name: open(f"{out}.{name}.bin", "wb") for name, _ in FIELDS}  # noqa: SIM115
    where = (
        [
            _NpyAppender(Path(f"{r}.global.npy"), len(c["keys"]))
            for r, c in zip(runs, columns, strict=True)
        ]
        if record
        else []
    )
    at = [0] * len(columns)
    total = 0
    while any(p < len(c["keys"]) for p, c in zip(at, columns, strict=True)):
        blocks = [
            read_block(c["keys"], p, min(p + block, len(c["keys"])))
            for p, c in zip(at, columns, strict=True)
        ]
        # keys up to the smallest last key of a run that continues are complete
        open_runs = [
            int(b[-1])
            for b, p, c in zip(blocks, at, columns, strict=True)
            if p + len(b) < len(c["keys"])
        ]
        limit = min(open_runs) if open_runs else None
        parts = {name: [] for name, _ in FIELDS}
        for r, (b, c) in enumerate(zip(blocks, columns, strict=True)):
            take = len(b) if limit is None else int(np.searchsorted(b, limit, side="right"))
            parts["keys"].append(b[:take])
            for name, _ in FIELDS[1:]:
                parts[name].append(read_block(c[name], at[r], at[r] + take))
            at[r] += take
        keys, order = stable_sort(np.concatenate(parts["keys"]))
        new = np.concatenate([[True], keys[1:] != keys[:-1]])
        first = np.flatnonzero(new)
        if record:  # each taken entry's merged index, handed back to its run
            merged_at = np.empty(len(keys), np.int64)
            merged_at[order] = total + np.cumsum(new) - 1
            edges = np.cumsum([len(k) for k in parts["keys"]])[:-1]
            for appender, piece in zip(where, np.split(merged_at, edges), strict=True):
                appender.write(piece)
        raw = np.add.reduceat(np.concatenate(parts["raw"])[order], first)
        merged = {
            "keys": keys[first],
            "raw": raw,
            "suffix": np.concatenate(parts["suffix"])[order][first],
            "bos_initial": np.concatenate(parts["bos_initial"])[order][first],
        }
        for name, dtype in FIELDS:
            files[name].write(np.ascontiguousarray(merged[name], dtype=dtype).tobytes())
        total += len(first)
    for f in files.values():
        f.close()
    for appender in where:
        appender.close()
    mapped = {
        name: np.memmap(f"{out}.{name}.bin", dtype=dtype, mode="r", shape=(total,))
        if total
        else np.zeros(0, dtype)
        for name, dtype in FIELDS
    }
    return OrderCounts(mapped["keys"], mapped["raw"], mapped["suffix"], mapped["bos_initial"])


def count_ngrams_bounded(
    ids: np.ndarray,
    order: int,
    eos: int,
    bos: int,
    memory: int,
    workdir: str | os.PathLike,
    workers: int | None = None,
) -> list[OrderCounts]:
    """`counts.count_ngrams` within about `memory` bytes of working space for counting;
    runs and merged counts go to `workdir` (which must outlive the returned arrays).
    Without sentence ends (`eos` < 0: character level) the corpus is one chunk."""
    workdir = Path(workdir)
    workers = workers or min(2, os.cpu_count() or 1)
    per_chunk = max(1000, memory // (BYTES_PER_TOKEN * workers))
    bounds = chunk_bounds(ids, eos, per_chunk) if eos >= 0 else [(0, len(ids))]
    base = bos + 1
    _STATE.update(ids=ids, eos=eos, bos=bos, order=order)
    try:
        unigram = sum(_map([(s, e, 1, "") for s, e in bounds], workers))
        orders = [
            OrderCounts(
                np.arange(base, dtype=np.int64),
                unigram,
                np.zeros(base, np.int64),
                np.arange(base) == bos,
            )
        ]
        for n in range(2, order + 1):
            tasks = [(s, e, n, str(workdir / f"run{n}.{i}")) for i, (s, e) in enumerate(bounds)]
            runs = _map(tasks, workers)
            orders.append(merge_runs(runs, workdir / f"order{n}", n < order, memory))
            release_freed_memory()
            for run in runs:  # the previous order's runs are no longer needed
                for path in workdir.glob(_run_name(n - 1, Path(run).name) + ".*"):
                    path.unlink()
        for path in workdir.glob("run*.npy"):
            path.unlink()
    finally:
        _STATE.clear()
    return orders


def first_seen_bounded(ids: np.ndarray, bos: int, eos: int, chunk: int) -> np.ndarray:
    """model._first_seen chunk by chunk: rank of each id by first appearance."""
    rank = np.full(bos + 1, len(ids) + 3, dtype=np.int64)
    for start in range(0, len(ids), chunk):
        block = read_block(ids, start, min(start + chunk, len(ids)))
        seen, first = np.unique(block, return_index=True)
        new = rank[seen] > len(ids) + 2
        rank[seen[new]] = first[new] + start + 3
    rank[bos] = 1
    if eos >= 0:
        rank[eos] = 2
    return rank
