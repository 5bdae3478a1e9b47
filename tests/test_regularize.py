"""AWD-LSTM regularisers against hand computations and torch.nn reference layers."""

import numpy as np
import pytest
import torch
from torch import nn

from seqlm.io import SeqlmError
from seqlm.nn import ModelConfig, RecurrentLM
from seqlm.nn.layers import make_layer


@pytest.fixture(scope="module")
def corpus(small_corpus):
    return small_corpus


def make(corpus, backend="fused", **kw):
    kw = {"embed": 16, "hidden": 24, "layers": 2, **kw}
    config = ModelConfig(vocab_size=len(corpus.vocab), **kw)
    model = RecurrentLM(config, corpus.vocab, backend)
    model.reset_parameters(7)
    return model


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_weight_drop_is_torch_layer_with_a_dropped_w_hh(kind, backend):
    """Training output = torch.nn.LSTM/GRU/RNN whose W_hh is W_hh * mask / (1-p), with the
    mask redrawn from the same RNG state; a new mask every forward; none in eval."""
    p = 0.5
    layer = make_layer(backend, kind, 5, 7, weight_drop=p).double()
    ref = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](5, 7).double()
    with torch.no_grad():
        for name, w in layer.weights.items():
            getattr(ref, f"{name}_l0").copy_(w)
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    layer.train()
    torch.manual_seed(11)
    out, _ = layer(x)
    torch.manual_seed(11)
    mask = torch.empty_like(ref.weight_hh_l0).bernoulli_(1 - p)
    assert 0 < mask.mean() < 1
    plain, _ = ref(x)
    with torch.no_grad():
        ref.weight_hh_l0.mul_(mask / (1 - p))
    expected, _ = ref(x)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    assert not torch.allclose(out, plain)
    again, _ = layer(x)  # another forward, another mask
    assert not torch.allclose(again, out)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], plain, atol=1e-12, rtol=0)
    # the gradient reaches W_hh only through the kept entries
    layer.train()
    torch.manual_seed(11)
    layer(x)[0].sum().backward()
    grad = layer.weights["weight_hh"].grad
    assert torch.all(grad[mask == 0] == 0) and grad[mask == 1].abs().sum() > 0


def test_weight_drop_keeps_the_checkpoint_layout(corpus):
    plain, dropped = make(corpus), make(corpus, weight_drop=0.5)
    assert list(plain.canonical_state()) == list(dropped.canonical_state())


def test_embedding_dropout_drops_whole_word_types(corpus):
    model = make(corpus, dropout_words=0.5).double().train()
    ids = torch.as_tensor(np.asarray(corpus["train"][:400], dtype=np.int64)).view(40, 10)
    from seqlm.nn.regularize import embedding_dropout

    out = embedding_dropout(model.embedding.weight, ids, 0.5, training=True)
    full = model.embedding(ids)
    ratio = (out / full)[..., 0]  # 0 or 2 per position, constant per word type
    assert set(torch.unique(ratio.round(decimals=9)).tolist()) == {0.0, 2.0}
    for token in torch.unique(ids).tolist():
        assert len(torch.unique(ratio[ids == token])) == 1
    assert torch.equal(embedding_dropout(model.embedding.weight, ids, 0.5, False), full)


def test_locked_dropout_shares_the_mask_across_time_not_across_the_batch():
    from seqlm.nn.regularize import locked_dropout

    torch.manual_seed(0)
    out = locked_dropout(torch.ones(30, 8, 50), 0.5, variational=True, training=True)
    assert torch.equal(out, out[:1].expand_as(out))  # every step: the same mask
    assert not torch.equal(out[0, 0], out[0, 1])  # each stream its own


@pytest.mark.parametrize("cutoffs", [[], [40, 100]])
def test_ar_and_tar_add_exactly_their_formula(corpus, cutoffs):
    kw = dict(dropout=0.4, dropout_between=0.2, variational=True, adaptive_cutoffs=cutoffs)
    base = make(corpus, **kw).double().train()
    reg = make(corpus, ar=2.0, tar=1.0, **kw).double().train()
    ids = torch.as_tensor(np.asarray(corpus["train"][:241], dtype=np.int64))
    x, y = ids[:-1].view(4, 60).T, ids[1:].view(4, 60).T
    torch.manual_seed(5)
    plain, _ = base.loss(x, y)
    torch.manual_seed(5)
    dropped, raw, _, _ = base._run(x, None)  # the same masks, drawn again
    torch.manual_seed(5)
    total, _ = reg.loss(x, y)
    expected = 2.0 * (dropped**2).mean() + 1.0 * ((raw[1:] - raw[:-1]) ** 2).mean()
    assert not torch.equal(dropped, raw)
    torch.testing.assert_close(total - plain, expected, atol=1e-12, rtol=0)
    reg.eval()
    base.eval()
    torch.testing.assert_close(reg.loss(x, y)[0], base.loss(x, y)[0])  # penalties: training only


def test_last_layer_size(corpus):
    model = make(corpus, layers=3, hidden=24, last_hidden=10)
    assert model.state_sizes() == [24, 24, 10]
    assert model.decoder.weight.shape == (len(corpus.vocab), 10)
    tied = make(corpus, layers=3, embed=10, tied=True)
    assert tied.state_sizes() == [24, 24, 10]
    with pytest.raises(SeqlmError, match="--tied"):
        make(corpus, tied=True, last_hidden=12)
