"""Each probe against something known."""

import math

import numpy as np
import pytest
import torch
from conftest import synthetic

from seqlm.data import load_corpus
from seqlm.ngram import NgramLM
from seqlm.nn import ModelConfig, RecurrentLM
from seqlm.probe import context_ablation, decay_rate, dependency_scores, gradient_flow

SMALL = synthetic(20_000, 4_000, 4_000)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(SMALL)


def test_linear_rnn_gradient_decays_at_its_spectral_radius(corpus):
    """Tiny inputs keep tanh in its linear range; W_hh = rho * orthogonal."""
    model = RecurrentLM(
        ModelConfig(cell="rnn", vocab_size=len(corpus.vocab), embed=8, hidden=16, layers=1),
        corpus.vocab,
        "reference",
    )
    rho = 0.8
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        model.reset_parameters(0)
        model.embedding.weight.mul_(1e-4)
        cell = model.layers[0].cell
        cell.weight_hh.copy_(rho * q)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    result = gradient_flow(model, corpus["test"], distance=20, windows=8)
    assert result["hidden_decay_per_step"] == pytest.approx(math.log10(rho), abs=1e-4)
    ratios = np.array(result["hidden"][1:]) / np.array(result["hidden"][:-1])
    np.testing.assert_allclose(ratios, rho, rtol=1e-3)


def test_lstm_gradients_outlast_rnn_gradients(corpus):
    rates = {}
    for kind in ("rnn", "lstm"):
        model = RecurrentLM(
            ModelConfig(cell=kind, vocab_size=len(corpus.vocab), embed=16, hidden=32, layers=1),
            corpus.vocab,
            "fused",
        )
        model.reset_parameters(0)
        rates[kind] = gradient_flow(model, corpus["test"], distance=30, windows=8)[
            "hidden_decay_per_step"
        ]
    assert rates["rnn"] < rates["lstm"] < 0


def test_decay_rate_of_a_geometric_series():
    assert decay_rate([10.0 ** (-0.5 * k) for k in range(10)]) == pytest.approx(-0.5)


def test_ngram_effective_context_is_n_minus_one(corpus):
    model = NgramLM.train(corpus["train"], corpus.vocab, 3)
    result = context_ablation(model, corpus, ks=(1, 2, 3, 5, 10), samples=300)
    # flat past n - 1 by construction: beyond 2 tokens nothing changes
    np.testing.assert_allclose(result["loss"][1:], result["full_context_loss"], atol=1e-9)
    assert result["effective_context"] <= 2


def test_a_model_that_ignores_its_input_has_a_flat_curve(corpus):
    model = RecurrentLM(
        ModelConfig(cell="lstm", vocab_size=len(corpus.vocab), embed=8, hidden=8, layers=1),
        corpus.vocab,
        "fused",
    )
    model.reset_parameters(0)
    with torch.no_grad():
        model.embedding.weight.zero_()
    result = context_ablation(model, corpus, ks=(1, 5, 20), samples=100)
    np.testing.assert_allclose(result["loss"], result["full_context_loss"], atol=1e-4)
    assert result["effective_context"] == 1


def test_dependency_scores_of_the_generator_itself_equal_the_floor(corpus):
    class Oracle(NgramLM):  # scores every token with the generator's own probability
        def log_probs(self, ids):
            return np.asarray(corpus.marks["test"]["logprob"])

    base = NgramLM.train(corpus["train"], corpus.vocab, 2)
    oracle = Oracle(base.vocab, base.tables)
    result = dependency_scores(oracle, corpus, "test")
    rows = [row for rows in result["kinds"].values() for row in rows]
    assert rows and all(row["loss"] == pytest.approx(row["floor"]) for row in rows)
    bigram = dependency_scores(base, corpus, "test")
    far = [row for row in bigram["kinds"]["agreement"] if row["from"] >= 4]
    assert all(row["loss"] > row["floor"] + 0.3 for row in far)  # a bigram cannot see that far
