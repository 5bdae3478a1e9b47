import numpy as np
import pytest

from seqlm.data.batching import Streams, TBPTTBatches, batchify
from seqlm.io import SeqlmError


def test_batchify_lays_contiguous_streams_side_by_side():
    data = batchify(np.arange(23), 4)  # 5 steps x 4 streams, 3 tokens dropped
    assert data.shape == (5, 4)
    assert data[:, 1].tolist() == [5, 6, 7, 8, 9]
    assert data[0].tolist() == [0, 5, 10, 15]
    with pytest.raises(SeqlmError, match="too small"):
        batchify(np.arange(5), 4)


def test_windows_continue_each_stream_exactly():
    data = batchify(np.arange(1000), 5)
    batches = TBPTTBatches(data, bptt=7)
    windows = list(batches.epoch())
    assert windows[0].start == 0 and all(w.start > 0 for w in windows[1:])
    inputs = np.concatenate([w.inputs.numpy() for w in windows])
    targets = np.concatenate([w.targets.numpy() for w in windows])
    assert np.array_equal(inputs, data[:-1].numpy())
    assert np.array_equal(targets, data[1:].numpy())
    assert sum(w.inputs.numel() for w in windows) == batches.tokens_per_epoch


def test_variable_windows_are_reproducible_and_resumable():
    data = batchify(np.arange(20_000), 4)
    batches = TBPTTBatches(data, bptt=35, variable=True, seed=3)
    spans = batches.spans(epoch=2)
    assert len({length for _, length in spans}) > 5
    assert np.array_equal(spans, TBPTTBatches(data, 35, True, seed=3).spans(epoch=2))
    assert not np.array_equal(spans, batches.spans(epoch=3))
    resumed = list(batches.epoch(2, skip=10))
    assert resumed[0].index == 10 and resumed[0].start == spans[10][0]


def test_lazy_streams_read_the_same_windows_as_batchify():
    ids = np.arange(10_007)
    eager, lazy = batchify(ids, 6), Streams(ids, 6)
    assert lazy.shape == tuple(eager.shape)
    for a, b in zip(
        TBPTTBatches(eager, 35, True, 1).epoch(1),
        TBPTTBatches(lazy, 35, True, 1).epoch(1),
        strict=True,
    ):
        assert np.array_equal(a.inputs.numpy(), b.inputs.numpy())
        assert np.array_equal(a.targets.numpy(), b.targets.numpy())
    assert np.array_equal(lazy.select(range(2, 4))[3:9].numpy(), eager[3:9, 2:4].numpy())
    with pytest.raises(SeqlmError, match="too small"):
        Streams(np.arange(5), 4)
