import numpy as np
import pytest

from seqlm.data import load_corpus
from seqlm.generate import filter_log_probs, sample
from seqlm.io import SeqlmError
from seqlm.ngram import NgramLM


@pytest.fixture(scope="module")
def model():
    corpus = load_corpus("synthetic:train_tokens=20000,valid_tokens=1000,test_tokens=1000")
    return NgramLM.train(corpus["train"], corpus.vocab, 3)


def test_greedy_is_argmax_and_deterministic(model):
    a = list(sample(model, None, 20, temperature=0))
    assert a == list(sample(model, None, 20, temperature=0, seed=5))
    assert a[0] == int(np.argmax(model.next_log_probs(model.start())))
    assert a == list(sample(model, None, 20, temperature=1.0, top_k=1, seed=3))


def test_seeded_sampling_reproduces(model):
    assert list(sample(model, None, 30, seed=7)) == list(sample(model, None, 30, seed=7))


def test_top_k_and_top_p_filters():
    log_probs = np.log([0.5, 0.3, 0.15, 0.05])
    assert np.count_nonzero(filter_log_probs(log_probs, 1.0, 2, None)) == 2
    p = filter_log_probs(log_probs, 1.0, None, 0.7)
    np.testing.assert_allclose(p, [0.5 / 0.8, 0.3 / 0.8, 0, 0])
    sharp = filter_log_probs(log_probs, 0.1, None, None)
    assert sharp[0] > 0.99


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature=float("nan")), "temperature must be a finite number"),
        (dict(temperature=float("inf")), "temperature must be a finite number"),
        (dict(temperature=-1.0), "temperature must be a finite number >= 0"),
        (dict(seed=-1), "seed must be >= 0"),
        (dict(max_tokens=-1), "max tokens must be >= 0"),
        (dict(top_p=float("nan")), "top-p"),
    ],
)
def test_bad_sampling_values_are_one_line_errors(model, kwargs, message):
    with pytest.raises(SeqlmError, match=message):
        next(sample(model, None, **kwargs))


def test_draw_is_numpys_choice():
    from seqlm.generate import draw

    source = np.random.default_rng(0)
    for seed in range(200):
        probs = filter_log_probs(np.log(source.dirichlet(np.full(300, 0.1))), 1.0, 40, 0.9)
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        assert [draw(probs, a) for _ in range(5)] == [int(b.choice(300, p=probs)) for _ in range(5)]
