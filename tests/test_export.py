"""Exported models compute what the PyTorch model computes."""

import numpy as np
import pytest
import torch
from conftest import MINI

from seqlm.cli import main
from seqlm.data import load_corpus
from seqlm.export import StepFunction, export_onnx, export_torchscript
from seqlm.nn import ModelConfig, RecurrentLM

ort = pytest.importorskip(
    "onnxruntime", reason="onnxruntime not installed (pip install -e '.[test]')"
)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(MINI)


def model_of(corpus, kind: str, tied: bool) -> RecurrentLM:
    config = ModelConfig(
        cell=kind, vocab_size=len(corpus.vocab), embed=12, hidden=16, layers=2, tied=tied
    )
    model = RecurrentLM(config, corpus.vocab, "fused")
    torch.manual_seed(0)
    with torch.no_grad():  # large random weights: sharp, varied distributions
        for p in model.parameters():
            p.normal_(0, 0.6)
    return model.eval()


@pytest.mark.parametrize("kind, tied", [("lstm", True), ("lstm", False), ("gru", False)])
def test_onnx_streaming_equals_pytorch(corpus, kind, tied, tmp_path):
    model = model_of(corpus, kind, tied)
    session = ort.InferenceSession(str(export_onnx(model, tmp_path / "m.onnx")))
    names = [i.name for i in session.get_inputs()][1:]
    ids = corpus["test"][:40]
    expected = model.log_probs(ids)
    assert np.ptp(expected) > 1  # the check is not between two flat distributions
    # two streams at once, one token per call, the state fed back each time
    state = [s.numpy() for s in StepFunction(model).zero_state(2)]
    previous, got = np.array([[model.start_token] * 2], dtype=np.int64), []
    for token in ids:
        out = session.run(None, {"tokens": previous, **dict(zip(names, state, strict=True))})
        got.append(out[0][0, :, token])
        state, previous = out[1:], np.array([[token, token]], dtype=np.int64)
    got = np.array(got)
    np.testing.assert_allclose(got[:, 0], expected, atol=1e-4)
    np.testing.assert_allclose(got[:, 1], expected, atol=1e-4)
    # a whole sequence in one call gives the same numbers
    inputs = np.concatenate([[model.start_token], ids[:-1]]).astype(np.int64)[:, None]
    zero = [s.numpy() for s in StepFunction(model).zero_state(1)]
    whole = session.run(None, {"tokens": inputs, **dict(zip(names, zero, strict=True))})[0]
    np.testing.assert_allclose(whole[np.arange(len(ids)), 0, ids], expected, atol=1e-4)


def test_torchscript_equals_pytorch(corpus, tmp_path):
    model = model_of(corpus, "lstm", False)
    step = torch.jit.load(str(export_torchscript(model, tmp_path / "m.pt")))
    ids = corpus["test"][:30]
    inputs = torch.as_tensor(np.concatenate([[model.start_token], ids[:-1]]))[:, None]
    with torch.no_grad():
        out = step(inputs, *StepFunction(model).zero_state(1))[0][:, 0].numpy()
    np.testing.assert_allclose(out[np.arange(len(ids)), ids], model.log_probs(ids), atol=1e-5)


def test_cli_export(tmp_path, capsys):
    model_dir, ngram_dir = tmp_path / "lstm", tmp_path / "ngram"
    assert (
        main(
            [
                "train",
                "--data",
                MINI,
                "--out",
                str(model_dir),
                "--max-steps",
                "2",
                "--hidden",
                "8",
                "--embed",
                "8",
                "--json",
            ]
        )
        == 0
    )
    assert main(["ngram", "train", MINI, "--out", str(ngram_dir), "--json"]) == 0
    capsys.readouterr()
    assert (
        main(["export", str(model_dir), "--format", "onnx", "--out", str(tmp_path / "a.onnx")]) == 0
    )
    assert (tmp_path / "a.onnx").stat().st_size > 0
    assert (
        main(["export", str(ngram_dir), "--format", "arpa", "--out", str(tmp_path / "m.arpa")]) == 0
    )
    assert (tmp_path / "m.arpa").read_text().startswith("\\data\\")
    assert main(["export", str(ngram_dir), "--format", "onnx", "--out", str(tmp_path / "x")]) == 2
    assert main(["export", str(model_dir), "--format", "arpa", "--out", str(tmp_path / "x")]) == 2
    assert "n-grams export as --format arpa" in capsys.readouterr().err
