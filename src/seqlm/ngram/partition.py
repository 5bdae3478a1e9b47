"""Counting and looking up by index over arrays too large to hold: one range at a time.

The streaming estimate has two random-access steps per order: counting each n-gram's left
extensions (a scatter-add over the order above's suffix links) and looking up the
probability of each n-gram's suffix in the order below (a gather). Held whole they cost 4
and 8 bytes per n-gram, the part of the peak that grows with the model. Past `width`
entries these functions do the same work a range of the target at a time:

- `count_by_range`: one pass over the index stream per range, counting the hits in range;
- `gather_by_range`: the (row, index) pairs are cut into files by index range (one pass),
  each range of the table answers its file, and the (row, value) pairs are cut again by
  row range and put in place, range by range, into a file in row order.

Memory: one range and one block; disk for the gather: 16 bytes per row, for the time of
the call. Results equal `np.bincount` and `table[index]` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from seqlm.ngram.counts import read_block as read

BLOCK = 1 << 20
MAX_PARTS = 256  # files a gather writes at once


def count_by_range(
    index: np.ndarray,
    length: int,
    width: int,
    dtype: type,
    finish: Callable[[np.ndarray, int], None],
    out: Path,
) -> np.ndarray:
    """np.bincount(index, minlength=length) as `dtype`, `width` counters at a time;
    `finish(counts, start)` edits each range before it is kept. One range: the array in
    memory; more: written to `out` (.npy) and returned mapped."""
    ranges = range(0, max(length, 1), max(width, 1))
    writer = None if len(ranges) == 1 else NpyWriter(out, length, dtype)
    for start in ranges:
        stop = length if writer is None else min(start + width, length)
        counts = np.zeros(stop - start, dtype)
        for lo, hi in _blocks(len(index)):
            hit = read(index, lo, hi)
            if writer is not None:
                hit = hit[(hit >= start) & (hit < stop)]
            at, times = np.unique(hit, return_counts=True)
            counts[at - start] += times.astype(dtype)
        finish(counts, start)
        if writer is None:
            return counts
        writer.write(counts)
    return writer.close()


def gather_by_range(
    table: np.ndarray, index: np.ndarray, width: int, workdir: Path, out: Path
) -> np.ndarray:
    """table[index] (float64) written to `out` in row order, holding `width` values of the
    table (and `width` of the result) at a time. `table` and `index` may be mapped."""
    rows = len(index)
    width = max(width, -(-max(len(table), rows) // MAX_PARTS))  # open files stay few
    ranges = -(-len(table) // width)
    parts = [workdir / f"gather.in{k}.bin" for k in range(ranges)]
    files = [open(p, "wb") for p in parts]  # noqa: SIM115
    try:  # (row, index) pairs, cut by the range of the table they read
        for lo, hi in _blocks(rows):
            at = read(index, lo, hi)
            _write_cut(files, np.arange(lo, hi), at, at // width)
    finally:
        for f in files:
            f.close()
    out_ranges = max(1, -(-rows // width))
    placed = [workdir / f"gather.out{k}.bin" for k in range(out_ranges)]
    files = [open(p, "wb") for p in placed]  # noqa: SIM115
    try:  # each range of the table answers its pairs: (row, value), cut by row range
        for k, part in enumerate(parts):
            values = read(table, k * width, min((k + 1) * width, len(table)))
            for pairs in _pairs(part):
                row, at = pairs[:, 0], pairs[:, 1]
                found = values[at - k * width]
                _write_cut(files, row, found.view(np.int64), row // width)
            part.unlink()
    finally:
        for f in files:
            f.close()
    writer = NpyWriter(out, rows)
    for k, part in enumerate(placed):  # every row is in its range's file once
        result = np.empty(min(width, rows - k * width))
        for pairs in _pairs(part):
            result[pairs[:, 0] - k * width] = np.ascontiguousarray(pairs[:, 1]).view(np.float64)
        writer.write(result)
        part.unlink()
    return writer.close()


def _blocks(length: int):
    for lo in range(0, length, BLOCK):
        yield lo, min(lo + BLOCK, length)


def _write_cut(files: list, first: np.ndarray, second: np.ndarray, part: np.ndarray) -> None:
    order = np.argsort(part.astype(np.uint16), kind="stable")  # a radix sort: parts are few
    cuts = np.searchsorted(part[order], np.arange(1, len(files)))
    pairs = np.stack([first[order], second[order]], axis=1)
    for f, chunk in zip(files, np.split(pairs, cuts), strict=True):
        if len(chunk):
            f.write(chunk.tobytes())


def _pairs(path: Path):
    """The (n, 2) int64 pairs of a part file, a block at a time."""
    total = path.stat().st_size // 16
    for lo, hi in _blocks(total):
        yield np.fromfile(path, np.int64, count=2 * (hi - lo), offset=16 * lo).reshape(-1, 2)


class NpyWriter:
    """A 1-D .npy file of known length, written front to back, block by block."""

    def __init__(self, path: Path, length: int, dtype=np.float64):
        self.path, self.length, self.written, self.dtype = path, length, 0, np.dtype(dtype)
        self.file = open(path, "wb")  # noqa: SIM115
        header = {"descr": self.dtype.str, "fortran_order": False, "shape": (length,)}
        np.lib.format.write_array_header_1_0(self.file, header)

    def write(self, values: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.written += len(values)

    def fill_to(self, end: int, value: float) -> None:
        """Write `value` up to position `end` (exclusive), in blocks."""
        while self.written < end:
            self.write(np.full(min(BLOCK, end - self.written), value))

    def close_file(self) -> Path:
        self.fill_to(self.length, 0)
        self.file.close()
        return self.path

    def close(self) -> np.ndarray:
        return np.load(self.close_file(), mmap_mode="r")
