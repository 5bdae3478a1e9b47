"""minGRU and minLSTM: the scan against the loop, both against the equations by hand."""

import json

import numpy as np
import pytest
import torch
from conftest import MINI, synthetic
from safetensors.torch import load_file

from seqlm.data import load_corpus
from seqlm.io import SeqlmError
from seqlm.nn import ModelConfig, RecurrentLM
from seqlm.nn.checkpoint import load_recurrent, save_recurrent
from seqlm.nn.layers import make_layer
from seqlm.nn.minimal import CHUNK, MinGRUCell, MinLSTMCell, scan

KINDS = ["mingru", "minlstm"]
CELLS = {"mingru": MinGRUCell, "minlstm": MinLSTMCell}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def g(z):
    return np.where(z >= 0, z + 0.5, sigmoid(z))


def by_hand(weights, x, h):
    """Feng et al. (2024), sections 3.1.3 and 3.2.3, in NumPy (float64)."""
    w, b = (weights[k].detach().numpy() for k in ("weight_ih", "bias_ih"))
    hidden, out = h.shape[1], []
    for x_t in x:
        k = x_t @ w.T + b
        if len(b) == 2 * hidden:  # minGRU
            z, h_tilde = sigmoid(k[:, :hidden]), g(k[:, hidden:])
            h = (1 - z) * h + z * h_tilde
        else:  # minLSTM
            f, i = sigmoid(k[:, :hidden]), sigmoid(k[:, hidden : 2 * hidden])
            h_tilde = g(k[:, 2 * hidden :])
            h = f / (f + i) * h + i / (f + i) * h_tilde
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("kind", KINDS)
def test_the_layer_is_its_equations(kind):
    torch.manual_seed(1)
    layer = make_layer("reference", kind, 3, 2).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 1.5)  # both branches of g, gates far from 1/2
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    h0 = torch.randn(4, 2, dtype=torch.float64)
    expected = by_hand(layer.weights, x.numpy(), h0.numpy())
    for backend in ("reference", "fused"):
        twin = make_layer(backend, kind, 3, 2).double()
        twin.load_state_dict(layer.state_dict())
        out, h = twin(x, h0)
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h.detach().numpy(), expected[-1], rtol=1e-12, atol=1e-14)
    assert "weight_hh" not in layer.weights


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("steps", [1, 7, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_the_scan_equals_the_loop_with_gradients(kind, steps):
    """Outputs, final state and the gradients of weights, inputs and h_0, across blocks."""
    torch.manual_seed(steps)
    results = []
    for backend in ("reference", "fused"):
        torch.manual_seed(2)
        layer = make_layer(backend, kind, 5, 4).double()
        x = (torch.randn(steps, 3, 5, dtype=torch.float64) * 2).requires_grad_()
        h0 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)  # any sign
        out, h = layer(x, h0)
        weight = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        ((out * weight).sum() + h.pow(2).sum()).backward()
        grads = [p.grad for p in layer.weights.values()] + [x.grad, h0.grad]
        results.append((out, h, grads))
    (out_r, h_r, grads_r), (out_p, h_p, grads_p) = results
    torch.testing.assert_close(out_p, out_r, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h_p, h_r, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads_p, grads_r, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_long_sequences_at_extreme_pre_activations_stay_finite_and_exact(kind):
    """5000 steps of pre-activations ±50: gates of e^−50, products of e^−250000."""
    cell = CELLS[kind](2, 3)
    torch.manual_seed(3)
    signs = torch.randint(0, 2, (5000, 2, 3 * len(cell.gates)), dtype=torch.float64) * 2 - 1
    pre = (signs * 50).requires_grad_()
    out = scan(*cell.log_coefficients(pre), torch.zeros(2, 3, dtype=torch.float64))
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(pre.grad).all()
    h, loop = torch.zeros(2, 3, dtype=torch.float64), []
    with torch.no_grad():
        for p_t in pre:
            h, _, _ = cell.cell_update(p_t, None, h)
            loop.append(h)
    torch.testing.assert_close(out.detach(), torch.stack(loop), rtol=1e-9, atol=0)
    # float32: finite outputs and gradients, within ~1e-4 of the values' scale
    pre32 = pre.detach().float().requires_grad_()
    out32 = scan(*cell.log_coefficients(pre32), torch.zeros(2, 3))
    out32.sum().backward()
    assert torch.isfinite(out32).all() and torch.isfinite(pre32.grad).all()
    assert (out32.double() - out.detach()).abs().max() < 1e-3 * out.abs().max()


def make(corpus, kind, backend="fused", **kw):
    config = ModelConfig(cell=kind, vocab_size=len(corpus.vocab), embed=12, hidden=16, **kw)
    model = RecurrentLM(config, corpus.vocab, backend)
    model.reset_parameters(7)
    with torch.no_grad():  # sharper than the initialisation: the scores differ visibly
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.3)
    return model


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(MINI)


@pytest.mark.parametrize("kind", KINDS)
def test_language_model_backends_checkpoint_and_generation_agree(corpus, kind, tmp_path):
    fused, ref = make(corpus, kind, "fused", tied=True), make(corpus, kind, "reference", tied=True)
    assert fused.layers[0].fused and not ref.layers[0].fused
    assert fused.config.parameters() == fused.num_parameters() + fused.embedding.weight.numel()
    ids = np.asarray(corpus["valid"][:150])
    scored = fused.log_probs(ids, window=64)  # several windows: h_0 carried between them
    assert np.ptp(scored) > 1
    np.testing.assert_allclose(ref.log_probs(ids, window=64), scored, atol=2e-5)
    state = fused.start()  # generation: the sequential form, one token at a time
    for t, token in enumerate(ids[:30]):
        assert fused.next_log_probs(state)[token] == pytest.approx(scored[t], abs=2e-5)
        state = fused.advance(state, int(token))
    text = fused.generate("", max_tokens=12, seed=3)
    assert text == fused.generate("", max_tokens=12, seed=3) and text.split()
    # gradients of the loss: both backends, float64
    x = torch.as_tensor(ids[:120].reshape(40, 3).astype(np.int64))
    grads = []
    for model in (fused.double().train(), ref.double().train()):
        model.zero_grad()
        model.loss(x[:-1], x[1:])[0].backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-9, atol=1e-12)
    # checkpoint round trip, loaded into either backend
    model = make(corpus, kind, "fused")
    save_recurrent(model, tmp_path / "m", {"corpus": MINI})
    for backend in ("fused", "reference"):
        again = load_recurrent(tmp_path / "m", backend=backend)
        assert again.kind == kind and again.state_sizes() == [16, 16]
        np.testing.assert_allclose(again.log_probs(ids), model.log_probs(ids), atol=2e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_weight_drop_is_refused(corpus, kind):
    with pytest.raises(SeqlmError, match=f"hidden-to-hidden matrix; {kind} has none"):
        make(corpus, kind, weight_drop=0.3)


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_export_computes_the_model(corpus, kind, tmp_path):
    """ONNX has no logcumsumexp: the export's scan is the pairwise log-sum-exp."""
    ort = pytest.importorskip("onnxruntime")
    from seqlm.export import StepFunction, export_onnx

    model = make(corpus, kind).eval()
    session = ort.InferenceSession(str(export_onnx(model, tmp_path / "m.onnx")))
    names = [i.name for i in session.get_inputs()][1:]
    ids = np.asarray(corpus["test"][:40])
    expected = model.log_probs(ids)
    inputs = np.concatenate([[model.start_token], ids[:-1]]).astype(np.int64)[:, None]
    zero = [s.numpy() for s in StepFunction(model).zero_state(1)]
    whole = session.run(None, {"tokens": inputs, **dict(zip(names, zero, strict=True))})
    np.testing.assert_allclose(whole[0][np.arange(len(ids)), 0, ids], expected, atol=1e-4)
    state, got = zero, []  # one token per call, the state fed back
    for t, token in enumerate(ids[:10]):
        out = session.run(
            None, {"tokens": inputs[t : t + 1], **dict(zip(names, state, strict=True))}
        )
        got.append(out[0][0, 0, token])
        state = out[1:]
    np.testing.assert_allclose(got, expected[:10], atol=1e-4)


TINY = dict(
    embed=12,
    hidden=16,
    layers=2,
    batch_size=8,
    bptt=15,
    eval_every=10,
    checkpoint_every=10,
    log_every=5,
    threads=1,
    seed=4,
    optimizer="adamw",
    lr=0.01,
    dropout=0.1,
    dropout_between=0.1,
    mixture=False,
)


@pytest.mark.parametrize("kind", KINDS)
def test_training_learns_and_resumes_exactly(kind, tmp_path):
    data = synthetic(12_000, 1_500, 1_500)
    whole = train_run(data, tmp_path / "whole", kind, 40)
    rows = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").open()]
    losses = [r["loss"] for r in rows if r["type"] == "train"]
    assert losses[-1] < losses[0] - 0.3  # it learns (about 5.1 -> 4.6 nats)
    train_run(data, tmp_path / "cut", kind, 27)
    from seqlm.train import train

    resumed = train(resume=tmp_path / "cut", max_steps=40)
    assert resumed.best_valid_ppl == whole.best_valid_ppl
    for name in ("trainer.safetensors", "model.safetensors"):
        a, b = load_file(tmp_path / "whole" / name), load_file(tmp_path / "cut" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def train_run(data, out, kind, steps):
    from seqlm.train import train

    return train(data, out, cell=kind, max_steps=steps, **TINY)
