"""Counting within a memory budget gives the in-memory result, bit for bit."""

import gc

import numpy as np
import pytest

from seqlm.data import load_corpus
from seqlm.ngram import NgramLM, stream_estimate
from seqlm.ngram.counts import count_ngrams
from seqlm.ngram.external import chunk_bounds, count_ngrams_bounded


def assert_same_tables(a, b):
    assert a.base == b.base and a.order == b.order
    for n in range(a.order):
        np.testing.assert_array_equal(a.keys[n], b.keys[n])
        np.testing.assert_array_equal(a.log10_prob[n], b.log10_prob[n])
        np.testing.assert_array_equal(a.log10_backoff[n], b.log10_backoff[n])


def test_chunks_end_at_sentence_ends():
    ids = np.array([5, 1, 0, 5, 5, 5, 0, 2, 0, 3, 3])
    bounds = chunk_bounds(ids, 0, 4)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(ids)
    assert all(ids[e - 1] == 0 for _, e in bounds[:-1])
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))


@pytest.mark.parametrize("workers", [1, 2])
def test_runs_on_disk_merge_to_the_in_memory_counts(tmp_path, workers):
    corpus = load_corpus("synthetic:train_tokens=30000,valid_tokens=2000,test_tokens=2000")
    ids, bos = np.asarray(corpus["train"]), len(corpus.vocab)
    eos = corpus.vocab.stoi["<eos>"]
    memory = 200 * 1500 * workers  # ~1,500-token chunks: about 20 runs per order
    ours = count_ngrams_bounded(ids, 4, eos, bos, memory, tmp_path, workers)
    theirs = count_ngrams(ids, 4, eos, bos)
    for a, b in zip(ours, theirs, strict=True):
        for name in ("keys", "raw", "suffix", "bos_initial"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("smoothing, prune", [("mkn", None), ("kn", None), ("mkn", [0, 1, 1, 2])])
def test_ptb_slice_with_a_tiny_budget_equals_the_in_memory_model(
    data_dir, tmp_path, monkeypatch, smoothing, prune
):
    ptb = load_corpus("ptb")
    ids = np.asarray(ptb["train"][:120_000])
    whole = NgramLM.train(ids, ptb.vocab, 5, smoothing, prune=prune)
    monkeypatch.setattr(stream_estimate, "BLOCK", 999)  # many blocks, long contexts split
    spilled = NgramLM.train(
        ids, ptb.vocab, 5, smoothing, memory=200 * 4000, workdir=tmp_path, prune=prune
    )
    assert isinstance(spilled.tables.log10_prob[0], np.memmap)  # the streaming path ran
    assert_same_tables(spilled.tables, whole.tables)
    assert spilled.info == whole.info
    (work,) = list(tmp_path.iterdir())  # the mapped tables live as long as the model
    assert not list(work.glob("run*")) and not list(work.glob("*.raw.bin"))
    spilled.save(tmp_path / "saved")  # from the mapped files
    whole.save(tmp_path / "whole")
    assert_same_tables(
        NgramLM.load(tmp_path / "saved").tables, NgramLM.load(tmp_path / "whole").tables
    )
    del spilled
    gc.collect()
    assert not work.exists()


def test_memory_sizes_parse_like_lmplz_S():
    from seqlm.io import SeqlmError
    from seqlm.ngram.external import default_memory, parse_size

    assert parse_size("1G") == 2**30 and parse_size("500M") == 500 * 2**20
    assert parse_size("64k") == 65536 and parse_size("123") == 123
    assert parse_size("100%") == pytest.approx(default_memory() * 4, rel=1e-9)
    for bad in ("", "G", "-1G", "lots"):
        with pytest.raises(SeqlmError, match="bad memory size"):
            parse_size(bad)


@pytest.mark.parametrize("width", [1, 7, 1000, 5000])
def test_range_by_range_counting_and_lookup_equal_numpy(tmp_path, monkeypatch, width):
    from seqlm.ngram import partition

    monkeypatch.setattr(partition, "BLOCK", 333)  # many blocks per pass
    rng = np.random.default_rng(0)
    table = rng.standard_normal(1000)
    index = rng.integers(0, 1000, 4000) ** 2 // 1000  # skewed: low indices hit often
    np.save(tmp_path / "table.npy", table)
    np.save(tmp_path / "index.npy", index)
    mapped_table = np.load(tmp_path / "table.npy", mmap_mode="r")
    mapped_index = np.load(tmp_path / "index.npy", mmap_mode="r")

    def double_first(counts, start):  # each range is handed over with its offset
        if start == 0:
            counts[0] *= 2

    counts = partition.count_by_range(
        mapped_index, 1200, width, np.int32, double_first, tmp_path / "c.npy"
    )
    expected = np.bincount(index, minlength=1200)
    expected[0] *= 2
    np.testing.assert_array_equal(counts, expected)
    assert isinstance(counts, np.memmap) == (width < 1200)  # held when it fits
    found = partition.gather_by_range(
        mapped_table, mapped_index, width, tmp_path, tmp_path / "g.npy"
    )
    np.testing.assert_array_equal(found, table[index])
    left = {p.name for p in tmp_path.iterdir()}  # the gather's parts are gone
    assert left == {"index.npy", "table.npy", "g.npy"} | ({"c.npy"} if width < 1200 else set())
