"""Corrupt model directories are refused, never scored: the manifest (sizes, SHA-256),
the n-gram invariants (sorted keys, log-probabilities <= 0, counts vs config) and finite
weights; corpus paths that work from any directory."""

import json
import os
import shutil

import numpy as np
import pytest
from conftest import MINI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqlm
from seqlm import manifest
from seqlm.cli import main
from seqlm.io import SeqlmError
from seqlm.ngram import checks


@pytest.fixture(scope="module")
def corpus():
    from seqlm.data import load_corpus

    return load_corpus(MINI)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, corpus):
    """An n-gram and a tiny LSTM directory, and each one's intact numbers."""
    from seqlm.ngram import build
    from seqlm.nn import ModelConfig, RecurrentLM
    from seqlm.nn.checkpoint import save_recurrent

    root = tmp_path_factory.mktemp("models")
    build(corpus, 3).save(root / "ng")
    config = ModelConfig(cell="lstm", vocab_size=len(corpus.vocab), embed=8, hidden=8, layers=1)
    lstm = RecurrentLM(config, corpus.vocab)
    lstm.reset_parameters(0)
    save_recurrent(lstm, root / "lstm", {"corpus": corpus.spec.to_json()})
    return root, {name: score(root / name, corpus) for name in ("ng", "lstm")}


def score(path, corpus) -> np.ndarray:
    lm = seqlm.load(path)
    return np.asarray(lm.log_probs(corpus["valid"][:300]))


def copy(saved, name, tmp_path):
    shutil.copytree(saved[0] / name, tmp_path / name)
    return tmp_path / name


def refused(path, match: str = "") -> str:
    with pytest.raises(SeqlmError, match=match) as e:
        seqlm.load(path)
    return str(e.value)


def overwrite(path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def npy_offset(path) -> int:
    """Where a .npy file's data starts."""
    return path.stat().st_size - np.load(path, mmap_mode="r").nbytes


def test_every_model_file_is_listed_and_the_manifest_is_written_last(saved):
    root, _ = saved
    for name in ("ng", "lstm"):
        listed = manifest.read_manifest(root / name)
        assert sorted(listed) == sorted(manifest.model_files(root / name))
        assert "config.json" in listed and "vocab.json" in listed
        for file, entry in listed.items():
            assert entry["size"] == (root / name / file).stat().st_size
            assert entry["sha256"] == manifest.file_sha256(root / name / file)
    assert "model.safetensors" in manifest.read_manifest(root / "lstm")


@pytest.mark.parametrize(
    "file, offset, data, what",
    [
        ("ngram2.prob.npy", 0, bytes(range(200)), "prob"),  # 200 bytes overwritten
        ("ngram2.keys.npy", 64, b"\xff" * 64, "keys"),
        ("ngram1.backoff.npy", 0, b"\xff" * 80, "backoff"),
    ],
)
def test_the_corruptions_found_are_refused_by_digest_and_by_invariant(
    saved, tmp_path, monkeypatch, file, offset, data, what
):
    path = copy(saved, "ng", tmp_path)
    overwrite(path / file, npy_offset(path / file) + offset, data)
    assert file in refused(path, "SHA-256 differs")
    monkeypatch.setattr(manifest, "DIGEST_BUDGET", 0)  # as for tables too large to hash
    assert file in refused(path, "corrupt")


def test_reversed_keys_are_refused_without_digests_even_when_sampled(saved, tmp_path, monkeypatch):
    path = copy(saved, "ng", tmp_path)
    keys = np.load(path / "ngram3.keys.npy")
    np.save(path / "ngram3.keys.npy", keys[::-1].copy())
    manifest.write_manifest(path)  # the digests match: only the invariants can tell
    monkeypatch.setattr(checks, "FULL_CHECK", 8)
    monkeypatch.setattr(checks, "SAMPLES", 16)
    assert "ngram3.keys.npy" in refused(path, "not sorted|range")
    assert "ngram3.keys.npy" in str(pytest.raises(SeqlmError, seqlm.load, path, verify=True).value)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"ngrams": [1, 2, 3]}, "counts"),
        ({"base": 7}, "base"),
        ({"format_version": "2"}, "format_version must be a positive integer"),
        ({"kind": "hmm"}, "unknown model kind 'hmm'"),
        ({"order": "3"}, "order"),
    ],
)
def test_a_config_that_does_not_match_is_refused_in_one_line(saved, tmp_path, change, match):
    path = copy(saved, "ng", tmp_path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, **change}))
    manifest.write_manifest(path)
    message = refused(path, match)
    assert "\n" not in message


def test_a_deeply_nested_config_is_one_line(saved, tmp_path):
    path = copy(saved, "lstm", tmp_path)
    (path / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(path, "nested too deeply")


def test_nan_and_overwritten_lstm_weights_are_refused(saved, tmp_path):
    from safetensors.torch import load_file, save_file

    path = copy(saved, "lstm", tmp_path)
    tensors = load_file(str(path / "model.safetensors"))
    tensors = {k: v * float("nan") if "embed" in k else v for k, v in tensors.items()}
    save_file(tensors, str(path / "model.safetensors"))
    manifest.write_manifest(path)
    refused(path, "NaN or infinite")
    path = copy(saved, "lstm", tmp_path / "b")
    weights = path / "model.safetensors"
    overwrite(weights, weights.stat().st_size - 16, b"\x00\x3c" * 8)
    assert "model.safetensors" in refused(path, "SHA-256")


def test_an_older_directory_without_a_manifest_loads_with_a_note(saved, tmp_path, caplog, corpus):
    path = copy(saved, "ng", tmp_path)
    (path / manifest.MANIFEST).unlink()
    assert np.array_equal(score(path, corpus), saved[1]["ng"])
    assert "no manifest.json" in caplog.text


def test_verify_and_eval_name_the_corrupt_file(saved, tmp_path, capsys):
    path = copy(saved, "ng", tmp_path)
    assert main(["verify", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{path}: ok")
    overwrite(path / "ngram1.prob.npy", 200, b"\x00" * 8)
    assert main(["verify", str(path)]) == 2
    assert "ngram1.prob.npy: SHA-256 differs" in capsys.readouterr().err
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ngram1.prob.npy" in err[0]


FILES = {
    "ng": [
        "config.json",
        "vocab.json",
        "manifest.json",
        *[f"ngram{n}.{c}.npy" for n in (1, 2, 3) for c in ("keys", "fence", "prob")],
        "ngram1.backoff.npy",
        "ngram2.backoff.npy",
    ],
    "lstm": ["config.json", "vocab.json", "manifest.json", "model.safetensors"],
}
DAMAGE = st.tuples(
    st.sampled_from([(k, f) for k, files in FILES.items() for f in files]),
    st.sampled_from(["flip", "truncate"]),
    st.floats(0, 1, exclude_max=True),
    st.integers(1, 255),
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(damage=DAMAGE)
def test_random_flips_and_truncations_are_refused_or_change_nothing(
    saved, corpus, tmp_path_factory, damage
):
    (name, file), how, where, mask = damage
    path = copy(saved, name, tmp_path_factory.mktemp("d"))
    raw = bytearray((path / file).read_bytes())
    at = int(where * len(raw))
    if how == "flip":
        raw[at] ^= mask
    else:
        del raw[at:]
    (path / file).write_bytes(bytes(raw))
    try:
        numbers = score(path, corpus)
    except SeqlmError:
        return
    assert np.array_equal(numbers, saved[1][name])  # never a different number silently


def test_a_corpus_path_is_stored_absolute_and_found_from_any_directory(tmp_path, monkeypatch):
    from faults_cases import corpus_dir

    corpus_dir(tmp_path / "work", "corp")
    monkeypatch.chdir(tmp_path / "work")
    assert main(["ngram", "train", "corp", "--order", "2", "--out", "runs/m", "--json"]) == 0
    source = json.loads((tmp_path / "work/runs/m/config.json").read_text())["corpus"]["source"]
    assert source == str(tmp_path / "work/corp")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["eval", str(tmp_path / "work/runs/m"), "--json"]) == 0
    # an older directory recorded the path relative to where training ran
    config = json.loads((tmp_path / "work/runs/m/config.json").read_text())
    config["corpus"]["source"] = "corp"
    (tmp_path / "work/runs/m/config.json").write_text(json.dumps(config))
    manifest.write_manifest(tmp_path / "work/runs/m")
    found = seqlm.loading.trained_on(tmp_path / "work/runs/m")
    assert found.source == os.path.join(tmp_path / "work", "corp")
    assert main(["eval", str(tmp_path / "work/runs/m"), "--json"]) == 0
