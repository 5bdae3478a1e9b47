"""The paired block bootstrap against differences planted in fake per-token losses."""

import numpy as np

from seqlm.evaluate.significance import paired_bootstrap, rank_adjacent
from seqlm.report.table import summary_sentences


def fake_losses(seed: int, n: int = 20_000) -> np.ndarray:
    """Per-token losses with the texture of real ones: skewed, correlated along the text."""
    rng = np.random.default_rng(seed)
    hardness = np.repeat(rng.gamma(2.0, 1.0, n // 50), 50)  # hard and easy stretches
    return hardness + rng.exponential(1.0, n)


def test_a_planted_difference_is_inside_the_interval_and_the_interval_excludes_zero():
    base = fake_losses(0)
    rng = np.random.default_rng(1)
    worse = base + 0.05 + rng.normal(0, 0.5, len(base))  # 0.05 nats/token worse, noisily
    result = paired_bootstrap(worse, base)
    planted = float(np.mean(worse - base))  # the difference on this very text
    assert abs(planted - 0.05) < 0.02
    assert result["low"] < planted < result["high"] and result["low"] > 0
    assert abs(result["difference"] - planted) < 1e-9
    assert not result["tied"]
    # the interval is about as wide as the noise predicts: 2 x 1.96 x 0.5 / sqrt(n)
    expected = 2 * 1.96 * 0.5 / np.sqrt(len(base))
    assert 0.5 * expected < result["high"] - result["low"] < 2 * expected


def test_identical_models_are_tied_and_so_are_two_seeds_of_one_model():
    base = fake_losses(0)
    same = paired_bootstrap(base, base.copy())
    assert same["tied"] and same["difference"] == 0 and same["low"] == same["high"] == 0
    rng = np.random.default_rng(2)
    seeds_a = base + rng.normal(0, 0.3, (3, len(base)))  # one model, three noisy seeds
    seeds_b = base + rng.normal(0, 0.3, (3, len(base)))  # the same model, three other seeds
    assert paired_bootstrap(seeds_a, seeds_b)["tied"]


def test_seed_variation_widens_the_interval():
    base = fake_losses(3)
    offsets = np.array([0.0, 0.1, -0.1])[:, None]  # seeds disagree by 0.1 nats/token
    one = paired_bootstrap(base + 0.02, base)
    spread = paired_bootstrap(base + 0.02 + offsets, base)
    assert spread["high"] - spread["low"] > 3 * (one["high"] - one["low"])
    assert spread["tied"] and not one["tied"]


def test_ranking_sentences_say_tied_only_when_the_interval_covers_zero():
    base = fake_losses(4)
    losses = {"lstm": base, "gru": base.copy(), "3-gram": base + 0.3}
    ranking = rank_adjacent(["lstm", "gru", "3-gram"], losses)
    assert [p["tied"] for p in ranking] == [True, False]
    rows = [
        {
            "model": m,
            "kind": "ngram" if m == "3-gram" else m,
            "test": {"perplexity": float(np.exp(np.mean(v)))},
        }
        for m, v in losses.items()
    ]
    result = {
        "rows": rows,
        "level": "word",
        "ranking": ranking,
        "neural_vs_ngram": {
            "neural": "lstm",
            "ngram": "3-gram",
            **paired_bootstrap(losses["3-gram"], base),
        },
    }
    text = summary_sentences(result)
    assert "lstm" in text and "gru" in text and "tied" in text
    assert "lstm beats the best n-gram (3-gram) by 0.300" in text
