"""Batching for truncated backpropagation through time (the pytorch/examples layout).

A token stream of length N is cut into B contiguous streams laid side by side as
columns of a (N // B, B) matrix. Training walks down the rows in windows of `bptt`
steps; window i+1 of column b continues exactly where window i ended, so the hidden
state at the end of one window is the right initial state for the next (carried,
detached). Optionally the window length varies (AWD-LSTM): usually `bptt`, sometimes
half, with Gaussian jitter, so the model does not always see the same cut points.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from seqlm.io import SeqlmError


def stream_length(n_tokens: int, batch_size: int) -> int:
    """Rows of the layout: each of the B streams gets N // B tokens (the rest is dropped)."""
    if batch_size < 1:
        raise SeqlmError("batch size must be at least 1")
    steps = n_tokens // batch_size
    if steps < 2:
        raise SeqlmError(
            f"corpus too small: {n_tokens} tokens cannot fill a batch of {batch_size} streams"
        )
    return steps


def batchify(ids: np.ndarray, batch_size: int) -> torch.Tensor:
    """(N,) ids -> (N // B, B) int64 tensor whose column b is the b-th contiguous slice."""
    steps = stream_length(len(ids), batch_size)
    block = np.asarray(ids[: steps * batch_size], dtype=np.int64)
    return torch.from_numpy(block.reshape(batch_size, steps).T.copy())


class Streams:
    """The `batchify` layout read lazily: a window copies only its own rows, so a
    memory-mapped corpus of any size is never loaded whole (resident memory stays flat)."""

    def __init__(self, ids: np.ndarray, batch_size: int, columns: range | None = None):
        steps = stream_length(len(ids), batch_size)
        self.ids, self.steps, self.batch_size = ids, steps, batch_size
        self.columns = columns if columns is not None else range(batch_size)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.steps, len(self.columns))

    def __getitem__(self, rows: slice) -> torch.Tensor:
        start, stop, _ = rows.indices(self.steps)
        block = np.stack(
            [self.ids[c * self.steps + start : c * self.steps + stop] for c in self.columns], axis=1
        )
        return torch.from_numpy(block.astype(np.int64, copy=False))

    def select(self, columns: range) -> Streams:
        """A subset of the streams (one rank's share under DDP)."""
        return Streams(self.ids, self.batch_size, columns)


@dataclass
class Window:
    index: int  # position of this window in the epoch (what a resumed run skips to)
    start: int  # first row; 0 means the streams start afresh (reset the hidden state)
    inputs: torch.Tensor  # (length, B)
    targets: torch.Tensor  # (length, B): inputs shifted by one step


class TBPTTBatches:
    """The windows of one epoch, reproducible from (seed, epoch) so a run can resume."""

    def __init__(self, data: torch.Tensor, bptt: int, variable: bool = False, seed: int = 0):
        if bptt < 1:
            raise SeqlmError("bptt must be at least 1")
        self.data, self.bptt, self.variable, self.seed = data, bptt, variable, seed

    @property
    def tokens_per_epoch(self) -> int:
        return (self.data.shape[0] - 1) * self.data.shape[1]

    def spans(self, epoch: int = 0) -> np.ndarray:
        """(start, length) of every window of `epoch`, an (n, 2) array: 16 bytes a window,
        so a 100M-token corpus's 143k windows cost 2 MB, not the 40 MB of Python tuples."""
        last = self.data.shape[0] - 1
        if not self.variable:
            starts = np.arange(0, max(last, 0), self.bptt, dtype=np.int64)
            return np.stack([starts, np.minimum(self.bptt, last - starts)], axis=1)
        rng = np.random.default_rng([self.seed, epoch])
        lengths, start = [], 0
        while start < last:
            base = self.bptt if rng.random() < 0.95 else self.bptt / 2
            length = min(max(5, int(rng.normal(base, 5))), last - start)
            lengths.append(length)
            start += length
        lengths = np.asarray(lengths, dtype=np.int64)
        return np.stack([np.cumsum(lengths) - lengths, lengths], axis=1)

    def __len__(self) -> int:
        return len(self.spans(0))

    def epoch(self, epoch: int = 0, skip: int = 0) -> Iterator[Window]:
        """The windows of `epoch`, starting after the first `skip` (to resume mid-epoch)."""
        spans = self.spans(epoch)
        for index in range(skip, len(spans)):
            start, length = int(spans[index, 0]), int(spans[index, 1])
            chunk = self.data[start : start + length + 1]
            yield Window(index, start, chunk[:-1], chunk[1:])
