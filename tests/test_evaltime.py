"""Neural cache, dynamic evaluation and n-gram interpolation, against direct computations."""

import math

import numpy as np
import pytest
import torch

from seqlm.evaluate.cache import CachedLM, cached_log_probs, score_with_features
from seqlm.evaluate.dynamic import dynamic_log_probs
from seqlm.evaluate.interpolate import InterpolatedLM, best_weight
from seqlm.ngram import build
from seqlm.nn import ModelConfig, RecurrentLM


@pytest.fixture(scope="module")
def corpus(small_corpus):
    return small_corpus


def make(corpus, **kw):
    kw = {"embed": 16, "hidden": 24, "layers": 2, **kw}
    model = RecurrentLM(ModelConfig(vocab_size=len(corpus.vocab), **kw), corpus.vocab)
    model.reset_parameters(7)
    return model.double()


@pytest.mark.parametrize("cutoffs", [[], [40, 100]])
def test_cache_is_a_distribution_and_matches_its_formula(corpus, cutoffs):
    model = make(corpus, adaptive_cutoffs=cutoffs)
    ids = np.asarray(corpus["valid"][:60])
    window, theta, lam = 25, 0.7, 0.3
    cached = CachedLM(model, window, theta, lam)
    scored = cached.log_probs(ids)
    state, stepped = cached.start(), []
    for token in ids:
        dist = cached.next_log_probs(state)
        assert np.exp(dist).sum() == pytest.approx(1.0, abs=1e-9)
        stepped.append(dist[token])
        state = cached.advance(state, int(token))
    np.testing.assert_allclose(scored, stepped, atol=1e-9)
    # one position by hand: softmax over the last W outputs, summed where the word recurs
    base, h = score_with_features(model, ids)
    t = 50
    keys = h[t - window : t].double()
    weights = torch.softmax(theta * keys @ h[t].double(), 0).numpy()
    p_cache = weights[ids[t - window : t] == ids[t]].sum()
    expected = math.log((1 - lam) * math.exp(base[t]) + lam * p_cache)
    assert scored[t] == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(cached_log_probs(base, h, ids, window, theta, 0.0), base)
    assert scored[0] == base[0]  # nothing in the memory yet


def test_interpolation_is_each_model_at_the_ends_and_a_distribution(corpus):
    model, ngram = make(corpus), build(corpus, 3)
    ids = np.asarray(corpus["valid"][:40])
    np.testing.assert_allclose(
        InterpolatedLM(model, ngram, 0.0).log_probs(ids), model.log_probs(ids), atol=1e-12
    )
    np.testing.assert_allclose(
        InterpolatedLM(model, ngram, 1.0).log_probs(ids), ngram.log_probs(ids), atol=1e-12
    )
    both = InterpolatedLM(model, ngram, 0.4)
    state = both.start(ids[:10])
    dist = both.next_log_probs(state)
    assert np.exp(dist).sum() == pytest.approx(1.0, abs=1e-9)
    expected = np.log(0.6 * np.exp(model.log_probs(ids)) + 0.4 * np.exp(ngram.log_probs(ids)))
    np.testing.assert_allclose(both.log_probs(ids), expected, atol=1e-12)
    weight, loss = best_weight(model.log_probs(ids), ngram.log_probs(ids))
    grid = [-expected.mean()] + [
        -InterpolatedLM(model, ngram, w).log_probs(ids).mean() for w in (0.0, 0.5, 1.0)
    ]
    assert loss <= min(grid) + 1e-12 and 0 <= weight <= 1


@pytest.mark.parametrize("method", ["sgd", "rms"])
def test_dynamic_evaluation_scores_each_token_before_learning_it(corpus, method):
    model = make(corpus, hidden=64, embed=32)
    lr = {"sgd": 3.0, "rms": 0.01}[method]
    text = np.asarray(corpus["train"][:60])
    twice = np.concatenate([text, text])
    dyn = dynamic_log_probs(model, twice, method, lr=lr, segment=5)
    static = model.log_probs(twice)
    np.testing.assert_allclose(dyn[:5], static[:5], atol=1e-12)  # nothing learnt yet
    # the second copy was learnt from the first (an untrained model: ~1 nat, not to zero)
    assert -dyn[60:].mean() < -dyn[:60].mean() - 0.4
    assert -dyn[60:].mean() < -static[60:].mean() - 0.4
    # causality: changing token t changes no score before it (an implementation that
    # stepped on a segment before scoring it would change the scores of t's segment)
    changed = twice.copy()
    changed[52] = (changed[52] + 1) % len(corpus.vocab)
    again = dynamic_log_probs(model, changed, method, lr=lr, segment=5)
    np.testing.assert_array_equal(again[:52], dyn[:52])
    assert again[52] != dyn[52] and np.abs(again[55:] - dyn[55:]).max() > 0
    fresh = make(corpus, hidden=64, embed=32)
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters(), strict=True)
    )


def test_eval_cli_reports_each_method_tuned_on_valid(tmp_path, capsys):
    import json

    from seqlm.cli import main
    from seqlm.train import train

    small = "synthetic:train_tokens=8000,valid_tokens=800,test_tokens=800"
    train(
        small,
        tmp_path / "m",
        cell="lstm",
        embed=12,
        hidden=16,
        layers=1,
        batch_size=8,
        bptt=10,
        max_steps=20,
        threads=1,
        optimizer="adamw",
        lr=0.01,
    )
    assert main(["eval", str(tmp_path / "m"), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    argv = [
        "eval",
        str(tmp_path / "m"),
        "--cache",
        "30",
        "--dynamic",
        "sgd",
        "--interpolate",
        "2",
        "--tune-tokens",
        "200",
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    names = [m["method"] for m in out["methods"]]
    assert names == ["static", "dynamic", "cache", "dynamic+cache", "ngram", "dynamic+cache+ngram"]
    assert out["tuned_on"] == "valid" and out["split"] == "test"
    assert out["methods"][0]["report_ppl"] == pytest.approx(plain["perplexity"], rel=1e-4)
    assert all(m["tuned_on"] == "valid" for m in out["methods"][1:])
