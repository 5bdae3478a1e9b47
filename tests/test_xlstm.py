"""xLSTM's sLSTM and mLSTM against their equations, their parallel form and the xlstm package."""

import numpy as np
import pytest
import torch
from conftest import MINI, synthetic
from safetensors.torch import load_file

from seqlm.data import load_corpus
from seqlm.export import StepFunction, export_onnx
from seqlm.nn import ModelConfig, RecurrentLM
from seqlm.nn.checkpoint import load_recurrent, save_recurrent
from seqlm.nn.xlstm import MLSTMCell, SLSTMCell
from seqlm.probe.gates import SATURATION_GATES, lstm_states, saturation
from seqlm.train import train


def loop(cell, x, state):
    """The recurrent form: the cell's step at every time step."""
    weights = cell.weights
    x_proj, outputs = cell.project_inputs(x, weights), []
    for t in range(len(x)):
        h, state, _ = cell.step(x_proj[t], state, weights)
        outputs.append(h)
    return torch.stack(outputs), state


def random_state(cell, batch):
    """A carried-in state as a previous window leaves it (m finite, n ≠ 0)."""
    torch.manual_seed(1)
    x = torch.randn(7, batch, cell.input_size, dtype=torch.float64)
    return loop(cell, x, cell.zero_state(batch, x))[1]


@pytest.mark.parametrize("length", [1, 2, 17, 128, 300])
def test_mlstm_parallel_form_equals_the_recurrent_form(length):
    torch.manual_seed(0)
    cell = MLSTMCell(5, 12, heads=3).double()
    x = torch.randn(length, 2, 5, dtype=torch.float64) * 2
    state = random_state(cell, 2)
    out_loop, state_loop = loop(cell, x, state)
    out_par, state_par = cell.parallel(x, state, cell.weights)
    torch.testing.assert_close(out_par, out_loop, atol=1e-5, rtol=0)
    for a, b in zip(state_par, state_loop, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def extreme(shape, generator):
    """Gate pre-activations of ±100, switching at random."""
    return (torch.randint(0, 2, shape, generator=generator) * 200 - 100).float()


def test_the_stabiliser_keeps_extreme_gates_finite():
    g, T, B = torch.Generator().manual_seed(0), 2000, 2
    cell = SLSTMCell(4, 8, heads=2)
    x_proj = torch.randn(T, B, 32, generator=g)
    x_proj[..., :16] = extreme((T, B, 16), g)  # ĩ and f̃
    x_proj.requires_grad_(True)  # the gradient: through the first 200 steps
    out, state = cell.zero_state(B, x_proj), []
    for t in range(T):
        with torch.set_grad_enabled(t < 200):
            h, out, _ = cell.cell_update(x_proj[t], torch.zeros(B, 32), out)
        state.append(h)
    outputs = torch.stack(state)
    assert torch.isfinite(outputs).all() and outputs.abs().max() <= 1
    (grad,) = torch.autograd.grad(outputs[:200].sum(), x_proj)
    assert torch.isfinite(grad).all()

    cell = MLSTMCell(4, 8, heads=2)
    x = torch.randn(T, B, 4, generator=g)
    with torch.no_grad():  # ĩ, f̃ rows read x[0] only, scaled to ±100
        cell.weight_ih[32:] = 0
        cell.weight_ih[32:, 0] = 1000
        cell.bias_ih[32:] = 0
    x[..., 0] = extreme((T, B), g) / 1000
    y, final = cell.parallel(x.requires_grad_(True), cell.zero_state(B, x), cell.weights)
    y.sum().backward()
    assert torch.isfinite(y).all() and all(torch.isfinite(s).all() for s in final)
    assert torch.isfinite(x.grad).all() and torch.isfinite(cell.weight_ih.grad).all()
    y64, _ = cell.double().parallel(
        x.detach().double(), cell.zero_state(B, x.double()), cell.weights
    )
    torch.testing.assert_close(y.detach().double(), y64, atol=1e-3, rtol=0)  # fp32 rounding


# -- an independent reference: the equations without the stabiliser, in NumPy ----------
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def slstm_by_hand(cell, x):
    """Beck et al. (2024) eqs. 8-14, unstabilised: c, n hold exp-weighted sums."""
    w = {k: v.detach().numpy() for k, v in cell.weights.items()}
    H, d = cell.hidden_size, cell.head_size
    R = np.zeros((4 * H, H))  # the block-diagonal recurrent matrix, written out
    for row in range(4 * H):
        head = (row % H) // d
        R[row, head * d : (head + 1) * d] = w["weight_hh"][row]
    (h, c, n), out = (np.zeros((x.shape[1], H)) for _ in range(3)), []
    for x_t in x:
        pre = x_t @ w["weight_ih"].T + w["bias_ih"] + h @ R.T + w["bias_hh"]
        i, f, z, o = np.split(pre, 4, axis=1)
        c = sigmoid(f) * c + np.exp(i) * np.tanh(z)
        n = sigmoid(f) * n + np.exp(i)
        h = sigmoid(o) * c / n
        out.append(h)
    return np.stack(out)


def mlstm_by_hand(cell, x):
    """Beck et al. (2024) eqs. 19-27, unstabilised, then the head-wise norm."""
    w = {k: v.detach().numpy() for k, v in cell.weights.items()}
    H, K, d = cell.hidden_size, cell.heads, cell.head_size
    B = x.shape[1]
    C, n, out = np.zeros((B, K, d, d)), np.zeros((B, K, d)), []
    for x_t in x:
        pre = x_t @ w["weight_ih"].T + w["bias_ih"]
        q, k, v, o = (pre[:, j * H : (j + 1) * H].reshape(B, K, d) for j in range(4))
        i, f = np.exp(pre[:, 4 * H : 4 * H + K]), sigmoid(pre[:, 4 * H + K :])
        k = k / np.sqrt(d)
        C = f[..., None, None] * C + i[..., None, None] * v[..., :, None] * k[..., None, :]
        n = f[..., None] * n + i[..., None] * k
        read = np.einsum("bkij,bkj->bki", C, q)
        read = read / np.maximum(np.abs((n * q).sum(-1)), 1)[..., None]
        normed = (read - read.mean(-1, keepdims=True)) / np.sqrt(read.var(-1, keepdims=True) + 1e-5)
        out.append((sigmoid(o) * normed).reshape(B, H))
    return np.stack(out)


def test_cells_are_their_equations_by_hand():
    torch.manual_seed(2)
    x = torch.randn(30, 3, 5, dtype=torch.float64)
    cell = SLSTMCell(5, 8, heads=2).double()
    expected = slstm_by_hand(cell, x.numpy())
    got = loop(cell, x, cell.zero_state(3, x))[0].detach().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)
    cell = MLSTMCell(5, 8, heads=2).double()
    got = cell.parallel(x, cell.zero_state(3, x), cell.weights)[0].detach().numpy()
    np.testing.assert_allclose(got, mlstm_by_hand(cell, x.numpy()), atol=1e-5)  # ε = 1e-6


def test_cells_equal_the_xlstm_package_on_copied_weights():
    vanilla = pytest.importorskip("xlstm.blocks.slstm.src.vanilla", reason="xlstm not installed")
    backends = pytest.importorskip("xlstm.blocks.mlstm.backends")
    torch.manual_seed(3)
    T, B, x = 25, 2, torch.randn(25, 2, 6, dtype=torch.float64)
    cell = SLSTMCell(6, 8, heads=2).double()
    K, d, w = cell.heads, cell.head_size, cell.weights
    R = w["weight_hh"].view(4, K, d, d).permute(1, 0, 2, 3).reshape(K, 4 * d, d)
    states, _, _ = vanilla.slstm_forward(
        cell.project_inputs(x, w),
        torch.zeros(4, B, 8, dtype=torch.float64),
        R,
        w["bias_hh"],
        vanilla.slstm_pointwise_function_registry["slstm"],
    )
    ours = loop(cell, x, cell.zero_state(B, x))[0]
    torch.testing.assert_close(ours, states[0, 1:], atol=1e-12, rtol=0)

    cell = MLSTMCell(6, 8, heads=2).double()
    q, k, v, o, (i_pre, f_pre) = cell.split(cell.project_inputs(x, cell.weights))
    heads_first = lambda t: t.permute(1, 2, 0, *range(3, t.dim()))  # noqa: E731
    h_tilde = backends.parallel_stabilized_simple(
        *(heads_first(t) for t in (q, k * d**0.5, v)),  # it scales k itself
        heads_first(i_pre)[..., None],
        heads_first(f_pre)[..., None],
    )  # (B, heads, T, d)
    expected = torch.sigmoid(heads_first(o)) * cell.head_norm(h_tilde)
    ours = cell.parallel(x, cell.zero_state(B, x), cell.weights)[0]
    torch.testing.assert_close(
        ours, expected.permute(2, 0, 1, 3).reshape(T, B, 8), atol=1e-5, rtol=0
    )


# -- the language model ------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus():
    return load_corpus(MINI)


def model(corpus, cell, backend="fused", **settings):
    config = ModelConfig(
        vocab_size=len(corpus.vocab), cell=cell, embed=12, hidden=16, layers=2, heads=4, **settings
    )
    lm = RecurrentLM(config, corpus.vocab, backend)
    lm.reset_parameters(4)
    return lm


@pytest.mark.parametrize("cell", ["slstm", "mlstm"])
def test_language_model_backends_checkpoint_gradients_generation(corpus, cell, tmp_path):
    fused = model(corpus, cell, tied=True)
    reference = model(corpus, cell, "reference", tied=True)
    reference.load_canonical(fused.canonical_state())
    ids = np.asarray(corpus["test"][:200])
    np.testing.assert_allclose(fused.log_probs(ids, window=64), reference.log_probs(ids), atol=1e-5)
    loaded = load_recurrent(save_recurrent(fused, tmp_path / "m"))
    np.testing.assert_array_equal(loaded.log_probs(ids, window=64), fused.log_probs(ids, window=64))
    batch = torch.as_tensor(ids[:161].astype(np.int64)).view(7, 23)
    loss, _ = fused.train().loss(batch[:-1], batch[1:])
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in fused.parameters())
    assert fused.eval().generate("a", max_tokens=5, seed=1) == loaded.generate(
        "a", max_tokens=5, seed=1
    )
    gates = lstm_states(fused, ids[:30])[0]  # `seqlm probe gates`
    assert gates["input_gate"].shape == (30, 16) and "cell_state" in gates
    assert all(0 <= gates[g].min() <= gates[g].max() <= 1 for g in SATURATION_GATES)
    assert 0 < saturation([gates])[0]["forget_gate"]["mean"] < 1


def test_mlstm_refuses_weight_drop_and_heads_must_divide(corpus):
    from seqlm.io import SeqlmError

    with pytest.raises(SeqlmError, match="hidden-to-hidden"):
        model(corpus, "mlstm", weight_drop=0.2)
    with pytest.raises(SeqlmError, match="heads"):
        RecurrentLM(
            ModelConfig(vocab_size=len(corpus.vocab), cell="slstm", hidden=10), corpus.vocab
        )


@pytest.mark.parametrize("cell", ["slstm", "mlstm"])
def test_onnx_export_streams_like_pytorch(corpus, cell, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    lm = model(corpus, cell).eval()
    with torch.no_grad():  # large weights: varied distributions
        for p in lm.parameters():
            p.normal_(0, 0.6)
    session = ort.InferenceSession(str(export_onnx(lm, tmp_path / "m.onnx")))
    inputs, names = {i.name for i in session.get_inputs()}, StepFunction(lm).state_names("h0")
    ids = corpus["test"][:30]
    state, previous, got = StepFunction(lm).zero_state(1), lm.start_token, []
    for token in ids:
        feed = {n: s.numpy() for n, s in zip(names, state, strict=True) if n in inputs}
        out = session.run(None, {"tokens": np.array([[previous]], dtype=np.int64), **feed})
        got.append(out[0][0, 0, token])
        state = [torch.as_tensor(s) for s in out[1:]]
        previous = token
    np.testing.assert_allclose(got, lm.log_probs(ids), atol=1e-4)


TRAIN = dict(
    embed=12,
    hidden=16,
    layers=1,
    heads=4,
    batch_size=8,
    bptt=20,
    eval_every=10,
    checkpoint_every=5,
    log_every=5,
    threads=1,
    seed=5,
    optimizer="adamw",
    lr=0.01,
    forget_bias=3.0,
)


@pytest.mark.parametrize("cell", ["slstm", "mlstm"])
def test_trainer_learns_and_resumes_exactly(cell, tmp_path):
    data = synthetic(6_000, 800, 800)
    whole = train(data, tmp_path / "whole", cell=cell, max_steps=30, **TRAIN)
    assert whole.best_valid_ppl < 0.9 * len(load_corpus(data).vocab)  # uniform: the vocabulary
    train(data, tmp_path / "cut", cell=cell, max_steps=15, **TRAIN)
    resumed = train(resume=tmp_path / "cut", max_steps=30)
    assert resumed.best_valid_ppl == whole.best_valid_ppl
    a = load_file(tmp_path / "whole" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
