"""The memory-mapped binary model format, the old ARPA directories, 8-bit quantisation."""

import json
import math

import numpy as np
import pytest

from seqlm.data import load_corpus
from seqlm.io import SeqlmError
from seqlm.loading import load_model
from seqlm.ngram import NgramLM, convert
from seqlm.ngram.binary import quantize


@pytest.fixture(scope="module")
def trained():
    corpus = load_corpus("synthetic:train_tokens=30000,valid_tokens=2000,test_tokens=3000")
    return NgramLM.train(corpus["train"], corpus.vocab, 4), corpus


def test_binary_directory_is_mapped_and_scores_like_the_trained_model(
    trained, tmp_path, monkeypatch
):
    from seqlm.ngram import counts

    monkeypatch.setattr(counts, "FENCED_FROM", 0)  # the fenced search at this small size
    model, corpus = trained
    model.save(tmp_path / "m")
    assert not (tmp_path / "m" / "model.arpa").exists()
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["format_version"] == 2 and config["storage"] == "npy"
    again = load_model(tmp_path / "m")
    assert isinstance(again.tables.keys[-1], np.memmap)  # pages load on demand
    assert [len(f) for f in again.tables.fences] == [-(-len(k) // 256) for k in model.tables.keys]
    ids = corpus["test"]
    np.testing.assert_allclose(again.log10_probs(ids), model.log10_probs(ids), atol=2e-6)
    (tmp_path / "m" / "manifest.json").unlink()  # older directories: no manifest, no fences
    for path in (tmp_path / "m").glob("*.fence.npy"):
        path.unlink()
    plain = load_model(tmp_path / "m")
    assert plain.tables.fences == []
    np.testing.assert_array_equal(plain.log10_probs(ids), again.log10_probs(ids))
    state = again.start(ids[:5])
    np.testing.assert_allclose(again.next_log_probs(state), model.next_log_probs(state), atol=5e-6)


def test_arpa_beside_it_and_directories_from_before_format_2(trained, tmp_path):
    model, corpus = trained
    model.save(tmp_path / "both", arpa=True)
    old = tmp_path / "old"  # what seqlm wrote before: model.arpa, vocab.json, config.json
    old.mkdir()
    (tmp_path / "both" / "model.arpa").rename(old / "model.arpa")
    model.vocab.save(old / "vocab.json")
    config = {"kind": "ngram", "format_version": 1, "order": 4, "smoothing": "mkn"}
    (old / "config.json").write_text(json.dumps(config))
    again = NgramLM.load(old)
    assert again.smoothing == "mkn" and not isinstance(again.tables.keys[-1], np.memmap)
    ids = corpus["test"]
    np.testing.assert_allclose(again.log10_probs(ids), model.log10_probs(ids), atol=2e-6)


def test_converted_kenlm_arpa_scores_exactly_as_read(data_dir, tmp_path):
    arpa = data_dir / "kenlm" / "ptb.o3.arpa.gz"
    binary = convert(arpa, tmp_path / "k")
    direct = NgramLM.from_arpa(arpa)
    assert binary.vocab.tokens == direct.vocab.tokens and binary.info["unk_is_oov_entry"]
    ids = direct.encode((data_dir / "ptb" / "valid.txt").read_text().split()[:20000])
    np.testing.assert_array_equal(binary.log10_probs(ids), direct.log10_probs(ids))


def test_8_bit_quantisation_changes_perplexity_by_little(trained, tmp_path):
    model, corpus = trained
    model.save(tmp_path / "q", quantize=8)
    q = NgramLM.load(tmp_path / "q")
    assert q.tables.log10_prob[-1].codes.dtype == np.uint8
    ids = corpus["test"]
    exact = math.exp(-model.log_probs(ids).mean())
    approx = math.exp(-q.log_probs(ids).mean())
    assert approx != exact and abs(approx / exact - 1) < 0.005  # PTB 5-gram: 141.19 -> 141.11
    q.write_arpa(tmp_path / "q.arpa")  # still a valid ARPA
    np.testing.assert_allclose(
        NgramLM.from_arpa(tmp_path / "q.arpa").log10_probs(ids), q.log10_probs(ids), atol=2e-6
    )


def test_quantize_keeps_few_values_exact_and_bins_many_by_population():
    few = np.array([-1.0, -2.0, -np.inf, -1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(quantize(few)), few.astype(np.float32))
    many = np.random.default_rng(0).normal(-3, 1, 100_000)
    q = quantize(many)
    assert len(q.centers) == 256
    assert np.bincount(q.codes, minlength=256).max() < 3 * len(many) / 256
    assert np.abs(np.asarray(q) - many).mean() < 0.01  # the tails are coarser
    backoffs = np.concatenate([np.zeros(1000), many])
    q = quantize(backoffs, exact=(0.0,))
    assert (np.asarray(q)[:1000] == 0).all() and len(q.centers) == 256


def test_newer_or_incomplete_directories_are_one_line_errors(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m")
    (tmp_path / "m" / "ngram4.prob.npy").unlink()
    with pytest.raises(SeqlmError, match="ngram4.prob.npy: missing"):
        NgramLM.load(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "format_version": 9}))
    with pytest.raises(SeqlmError, match="newer seqlm"):
        NgramLM.load(tmp_path / "m")


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 5000])
def test_fenced_search_finds_each_key_and_nothing_else(size, monkeypatch):
    from seqlm.ngram import counts
    from seqlm.ngram.counts import fence_of, find_keys

    monkeypatch.setattr(counts, "BLOCK", 512)  # the fence read in blocks
    monkeypatch.setattr(counts, "FENCED_FROM", 0)  # used at any size

    rng = np.random.default_rng(size)
    keys = np.unique(rng.integers(0, 10 * size + 10, size))  # sorted, unique
    wanted = rng.integers(-5, 10 * size + 20, 3000)  # present, absent, out of range
    wanted[: len(keys)] = keys[: len(wanted)]
    position = {int(k): i for i, k in enumerate(keys)}
    expected = [position.get(int(w), -1) for w in wanted]
    np.testing.assert_array_equal(find_keys(keys, wanted, fence_of(keys)), expected)
