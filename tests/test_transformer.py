"""The Transformer (`--cell transformer`) against torch's own encoder layer, and its
windows, cache, checkpoints, generation and export against brute-force recomputation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import MINI, SMALL_2K
from safetensors.torch import load_file

import seqlm
from seqlm.cli import main
from seqlm.data import load_corpus
from seqlm.nn.build import build_model
from seqlm.nn.config import ModelConfig
from seqlm.nn.transformer import Block, TransformerLM


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(MINI)


def make(corpus, context=8, **kw) -> TransformerLM:
    config = ModelConfig(
        cell="transformer", vocab_size=len(corpus.vocab), embed=16, hidden=24, layers=2,
        heads=4, context=context, tied=True, **kw,
    )  # fmt: skip
    model = build_model(config, corpus.vocab)
    model.reset_parameters(1)
    with torch.no_grad():  # LayerNorm gains and biases away from their 1 and 0
        for p in model.parameters():
            if p.dim() < 2:
                p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(7)))
    return model.double().eval()


def reference_layer(block: Block, heads: int) -> torch.nn.TransformerEncoderLayer:
    """torch's pre-LayerNorm encoder layer holding `block`'s weights."""
    d, hidden = block.fc1.in_features, block.fc1.out_features
    ref = torch.nn.TransformerEncoderLayer(
        d, heads, hidden, dropout=0.0, activation="gelu", norm_first=True, batch_first=True
    ).double()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(block.attn_in.weight)
        ref.self_attn.in_proj_bias.copy_(block.attn_in.bias)
        ref.self_attn.out_proj.weight.copy_(block.attn_out.weight)
        ref.self_attn.out_proj.bias.copy_(block.attn_out.bias)
        for mine, theirs in (("fc1", "linear1"), ("fc2", "linear2"), ("norm1", "norm1")):
            getattr(ref, theirs).load_state_dict(getattr(block, mine).state_dict())
        ref.norm2.load_state_dict(block.norm2.state_dict())
    return ref.eval()


@torch.no_grad()
def by_reference(model: TransformerLM, inputs: torch.Tensor) -> torch.Tensor:
    """ln P of every next token, (T,) for one sequence of at most `context` inputs."""
    x = model.embedding.weight[inputs] + model.position_embedding.weight[: len(inputs)]
    mask = torch.nn.Transformer.generate_square_subsequent_mask(len(inputs), dtype=x.dtype)
    x = x[None]
    for block in model.blocks:
        x = reference_layer(block, model.config.heads)(x, src_mask=mask, is_causal=True)
    x = F.layer_norm(x[0], x.shape[-1:], model.norm.weight, model.norm.bias)
    return F.log_softmax(x @ model.decoder.weight.T + model.decoder.bias, dim=-1)


def test_block_is_torchs_pre_layernorm_encoder_layer():
    torch.manual_seed(0)
    block = Block(12, 3, 20, dropout=0.0).double().eval()
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(7, dtype=torch.float64)
    expected = reference_layer(block, 3)(x, src_mask=mask, is_causal=True)
    out, (k, v) = block(x)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    assert k.shape == v.shape == (2, 3, 7, 4)


def test_model_is_the_reference_layers_stacked(corpus):
    model = make(corpus)
    ids = np.asarray(corpus["valid"][:8])
    inputs = torch.as_tensor(np.concatenate([[model.start_token], ids[:-1]]))
    expected = by_reference(model, inputs).gather(1, torch.as_tensor(ids)[:, None])[:, 0]
    np.testing.assert_allclose(model.log_probs(ids), expected.numpy(), atol=1e-12)


@pytest.mark.parametrize("n", [8, 23])  # within one window, and across strided windows
def test_changing_a_token_never_changes_earlier_scores(corpus, n):
    model = make(corpus)
    ids = np.asarray(corpus["valid"][:n]).copy()
    before = model.log_probs(ids)
    for t in range(n - 1):
        changed = ids.copy()
        changed[t + 1] = (changed[t + 1] + 1) % len(corpus.vocab)
        after = model.log_probs(changed)
        np.testing.assert_allclose(after[: t + 1], before[: t + 1], atol=1e-12)
        assert after[t + 1] != before[t + 1]


@pytest.mark.parametrize("stride", [None, 1, 3, 8])
def test_strided_scoring_is_each_token_read_from_its_own_window(corpus, stride):
    """Brute force: token i is scored from the first window k (starting at k·s) that
    holds it with at least context − s tokens before it (all of the first window)."""
    model, context, n = make(corpus), 8, 29
    model.stride = stride or model.stride
    s = model.stride
    ids = np.asarray(corpus["valid"][:n])
    inputs = np.concatenate([[model.start_token], ids[:-1]])
    expected = []
    for i in range(n):
        k = 0
        while not (i < k * s + context and (k == 0 or i >= k * s + context - s)):
            k += 1
        window = torch.as_tensor(inputs[k * s : i + 1])
        assert context - s < len(window) <= context or k == 0
        expected.append(by_reference(model, window)[-1, ids[i]].item())
    for batch in (1024, 1, 5):  # how many windows run side by side changes nothing
        np.testing.assert_allclose(model.log_probs(ids, window=batch), expected, atol=1e-12)
    with torch.no_grad():  # features of a long text: the same windows
        x, _ = model.features(torch.as_tensor(inputs)[:, None])
        lp = model.target_log_probs(x, torch.as_tensor(ids)[:, None])[:, 0]
    np.testing.assert_allclose(lp.numpy(), expected, atol=1e-12)


def test_cached_steps_equal_full_recomputation(corpus):
    model, n = make(corpus), 20
    ids = np.asarray(corpus["valid"][:n])
    inputs = np.concatenate([[model.start_token], ids])
    state = model.start()
    for t in range(n):
        full = by_reference(model, torch.as_tensor(inputs[max(0, t - 7) : t + 1]))[-1]
        if t < 8:  # within the context: the cache holds exactly the prefix
            np.testing.assert_allclose(model.next_log_probs(state), full.numpy(), atol=1e-12)
        state = model.advance(state, int(ids[t]))
    # past the context, generation reads the windows scoring reads
    state, scored = model.start(), model.log_probs(ids)
    for t in range(n):
        assert model.next_log_probs(state)[ids[t]] == pytest.approx(scored[t], abs=1e-12)
        state = model.advance(state, int(ids[t]))
    # a chunk on top of cached keys and values (masked), as one pass
    whole, cache = model.features(torch.as_tensor(inputs[:8])[:, None])
    part = model.features(torch.as_tensor(inputs[5:8])[:, None], model._read(inputs[:5].tolist()))
    torch.testing.assert_close(part[0], whole[5:], atol=1e-12, rtol=0)
    assert [k.shape[2] for k, _ in cache] == [8, 8]


def test_score_windows_and_context_state_read_at_most_the_context(corpus):
    model = make(corpus)
    ids = np.asarray(corpus["valid"][:40])
    windows, targets = [ids[i : i + 12] for i in range(5)], ids[12:17]
    got = model.score_windows(windows, targets, chunk=2)
    for w, t, g in zip(windows, targets, got, strict=True):
        assert g == pytest.approx(
            by_reference(model, torch.as_tensor(w[-8:]))[-1, t].item(), abs=1e-12
        )
        assert model.next_log_probs(model.context_state(w))[t] == pytest.approx(g, abs=1e-12)


# lr without decay (min_lr_ratio 1): the cut run's schedule is then the whole run's
TRAIN = dict(
    cell="transformer", embed=16, hidden=32, layers=2, heads=2, context=16, tied=True,
    batch_size=8, bptt=16, eval_every=5, checkpoint_every=4, log_every=2, threads=1,
    seed=3, optimizer="adamw", lr=1e-2, warmup_steps=3, min_lr_ratio=1.0, dropout=0.1,
    dropout_between=0.1, dropout_words=0.05, variational=True,
)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run through the trainer, and the same run cut at step 7 and resumed."""
    root = tmp_path_factory.mktemp("transformer")
    whole = seqlm.train(SMALL_2K, root / "whole", max_steps=12, **TRAIN)
    seqlm.train(SMALL_2K, root / "cut", max_steps=7, **TRAIN)
    resumed = seqlm.train(resume=root / "cut", max_steps=12)
    return root, whole, resumed


def test_trains_saves_loads_and_resumes_exactly(trained):
    root, whole, resumed = trained
    assert resumed.best_valid_ppl == whole.best_valid_ppl
    for name in ("trainer.safetensors", "model.safetensors"):
        a, b = load_file(root / "whole" / name), load_file(root / "cut" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    lm = seqlm.load(root / "whole")
    assert isinstance(lm, TransformerLM) and lm.kind == "transformer"
    corpus = load_corpus(SMALL_2K)
    ppl = float(np.exp(-lm.log_probs(corpus["valid"]).mean()))
    assert ppl == pytest.approx(whole.best_valid_ppl, rel=1e-4)
    assert ppl < 0.7 * len(corpus.vocab)  # it learned something


def test_generates_and_exports(trained, tmp_path, capsys):
    root = trained[0]
    lm = seqlm.load(root / "whole")
    text = lm.generate("the", max_tokens=40, seed=2)  # past the 16-token context
    assert text == lm.generate("the", max_tokens=40, seed=2) and len(text.split()) >= 30
    assert main(["generate", str(root / "whole"), "--max-tokens", "5", "--seed", "1"]) == 0
    assert capsys.readouterr().out.strip()
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "t.onnx"
    assert main(["export", str(root / "whole"), "--format", "onnx", "--out", str(out)]) == 0
    session = ort.InferenceSession(str(out))
    for length in (1, 5, 16):
        tokens = np.asarray(load_corpus(SMALL_2K)["valid"][:length], dtype=np.int64)[:, None]
        (got,) = session.run(None, {"tokens": np.repeat(tokens, 2, axis=1)})
        with torch.no_grad():
            want = lm.log_softmax(lm.features(torch.as_tensor(tokens))[0])
        np.testing.assert_allclose(got[:, :1], want.numpy(), atol=1e-4)
