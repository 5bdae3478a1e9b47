import json
import math

import numpy as np
import pytest
import torch
from conftest import SMALL

from seqlm.data import load_corpus
from seqlm.evaluate import evaluate
from seqlm.io import SeqlmError
from seqlm.nn import ModelConfig, RecurrentLM
from seqlm.nn.checkpoint import load_recurrent, save_recurrent


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(SMALL)


def make(corpus, backend, **kw):
    config = ModelConfig(vocab_size=len(corpus.vocab), embed=16, hidden=24, layers=2, **kw)
    model = RecurrentLM(config, corpus.vocab, backend)
    model.reset_parameters(7)
    return model


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_both_backends_train_identically(corpus, kind):
    torch.manual_seed(0)
    models = [make(corpus, b, cell=kind, tied=True).double() for b in ("fused", "reference")]
    opts = [torch.optim.SGD(m.parameters(), lr=0.5) for m in models]
    ids = torch.as_tensor(np.asarray(corpus["train"][:404], dtype=np.int64)).view(-1, 4)
    losses = [[], []]
    for step in range(5):
        x, y = ids[step * 20 : step * 20 + 20], ids[step * 20 + 1 : step * 20 + 21]
        for i, (m, o) in enumerate(zip(models, opts, strict=True)):
            loss, _ = m.loss(x, y)
            o.zero_grad()
            loss.backward()
            o.step()
            losses[i].append(loss.item())
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-9)
    assert losses[0][-1] < losses[0][0]


def test_forget_bias_and_tying(corpus):
    model = make(corpus, "reference", cell="lstm", tied=True, forget_bias=1.0)
    assert torch.all(model.layers[0].cell.forget_gate.bias == 1.0)
    assert model.decoder.weight is model.embedding.weight
    assert model.layers[-1].cell.hidden_size == 16  # tied: the top layer has `embed` units


def test_incremental_state_matches_stream_scoring(corpus):
    model = make(corpus, "fused", cell="gru")
    ids = np.asarray(corpus["valid"][:30])
    scored = model.log_probs(ids, window=7)
    state = model.start()
    for t, token in enumerate(ids):
        assert model.next_log_probs(state)[token] == pytest.approx(scored[t], abs=1e-5)
        state = model.advance(state, int(token))
    assert np.exp(model.next_log_probs(state)).sum() == pytest.approx(1.0, abs=1e-5)


def test_adaptive_softmax_is_a_distribution(corpus):
    model = make(corpus, "fused", adaptive_cutoffs=[20, 60])
    lp = model.next_log_probs(model.start())
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-5)
    x = torch.as_tensor(np.asarray(corpus["train"][:41], dtype=np.int64))[:, None]
    loss, _ = model.loss(x[:-1], x[1:])
    assert loss.item() == pytest.approx(-model.log_probs(corpus["train"][:41])[1:].mean(), rel=0.05)


def test_checkpoint_round_trip_into_either_backend(corpus, tmp_path):
    model = make(corpus, "fused", cell="lstm")
    save_recurrent(model, tmp_path / "m", {"corpus": SMALL})
    for backend in ("fused", "reference"):
        again = load_recurrent(tmp_path / "m", backend=backend)
        np.testing.assert_allclose(
            again.log_probs(corpus["test"][:200]), model.log_probs(corpus["test"][:200]), atol=1e-5
        )
    assert evaluate(model, corpus, "test").perplexity > 1


def test_bad_checkpoints_are_one_line_errors(corpus, tmp_path):
    """The manifest names a damaged file first; without one (a directory from before
    manifests, or one edited by hand) the file's own checks still give one line."""
    model = make(corpus, "fused")
    save_recurrent(model, tmp_path / "m")
    blob = (tmp_path / "m" / "model.safetensors").read_bytes()
    (tmp_path / "m" / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(SeqlmError, match=r"model\.safetensors: size .* the manifest says"):
        load_recurrent(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").unlink()
    with pytest.raises(SeqlmError, match="corrupt or truncated"):
        load_recurrent(tmp_path / "m")
    save_recurrent(model, tmp_path / "m")
    (tmp_path / "m" / "manifest.json").unlink()
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(SeqlmError, match="newer seqlm"):
        load_recurrent(tmp_path / "m")
    config["model"]["vocab_size"] += 1
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(SeqlmError, match="vocabulary has"):
        load_recurrent(tmp_path / "m")


def test_unknown_kind_is_refused(corpus):
    with pytest.raises(SeqlmError, match=r"setting cell \(--cell\) must be one of"):
        make(corpus, "fused", cell="lsmt")


def test_gates_of_a_model(corpus):
    model = make(corpus, "reference", cell="lstm")
    gates = model.gates(corpus["valid"][:12])
    assert len(gates) == 2 and gates[0]["forget_gate"].shape == (12, 24)
    assert gates[0]["forget_gate"].min() > 0 and gates[0]["forget_gate"].max() < 1
    assert math.isfinite(float(gates[1]["cell_state"].sum()))


def teacher_forced(model, ids):
    state, out = model.start(None), []
    for t in ids:
        out.append(model.next_log_probs(state))
        state = model.advance(state, int(t))
    return np.array(out), state


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("cutoffs", [[], [40, 100]])
@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_generation_step_with_full_precision_weights_is_the_model_itself(
    corpus, kind, cutoffs, backend
):
    """The bf16 step's code (own adaptive-softmax decomposition, shared cell equations)
    run with float64 weights must compute what torch's kernels and `log_prob` compute."""
    model = make(corpus, backend, cell=kind, adaptive_cutoffs=cutoffs).double()
    ids = corpus["valid"][:30]
    exact, exact_state = teacher_forced(model, ids)
    model.generation_dtype = torch.float64
    stepped, state = teacher_forced(model, ids)
    np.testing.assert_allclose(stepped, exact, atol=1e-10, rtol=0)
    for a, b in zip(state.hidden, exact_state.hidden, strict=True):
        for x, y in zip(a if kind == "lstm" else [a], b if kind == "lstm" else [b], strict=True):
            torch.testing.assert_close(x, y, atol=1e-10, rtol=0)


def test_bf16_generation_is_close_keeps_fp32_state_and_follows_new_weights(corpus):
    model = make(corpus, "fused", cell="lstm", adaptive_cutoffs=[40, 100])
    ids = corpus["valid"][:60]
    exact, _ = teacher_forced(model, ids)
    model.set_generation_precision("bf16")
    low, state = teacher_forced(model, ids)
    diff = np.abs(low - exact)
    assert 0 < diff.max() < 0.05 and diff.mean() < 0.01  # bf16 ran, and stayed close
    assert all(t.dtype == torch.float32 for t in state.hidden[-1])  # the cell state is fp32
    with torch.no_grad():
        model.decoder.head.weight.mul_(2.0)  # in place: the bf16 copy must be rebuilt
    assert np.abs(teacher_forced(model, ids[:3])[0] - low[:3]).max() > 1e-3
    with pytest.raises(SeqlmError, match="unknown precision"):
        model.set_generation_precision("int3")


@pytest.mark.parametrize("cutoffs", [[], [40, 100]])
def test_scoring_in_parallel_streams_is_each_piece_scored_on_its_own(corpus, cutoffs):
    """streams=K cuts the text into K contiguous pieces, each read from a fresh state."""
    model = make(corpus, "fused", cell="lstm", adaptive_cutoffs=cutoffs).double()
    ids = corpus["valid"][:103]
    pieces = [ids[i : i + 26] for i in range(0, 103, 26)]  # 26, 26, 26, 25
    expected = np.concatenate([model.log_probs(p) for p in pieces])
    np.testing.assert_allclose(model.log_probs(ids, window=8, streams=4), expected, atol=1e-12)
    whole = model.log_probs(ids)
    np.testing.assert_allclose(whole[:26], expected[:26], atol=1e-12)  # same first piece
    full = np.array(
        [
            model.log_softmax(
                model.features(torch.as_tensor(np.r_[model.start_token, ids[:t]])[:, None])[0]
            )[-1, 0, ids[t]].item()
            for t in (0, 50, 102)
        ]
    )
    np.testing.assert_allclose(whole[[0, 50, 102]], full, atol=1e-12)  # target-only = full
