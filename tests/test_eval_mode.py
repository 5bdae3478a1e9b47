"""Every method that reads a model in eval mode leaves it in the mode it found."""

import numpy as np
import pytest

from seqlm.data import load_corpus
from seqlm.evaluate.cache import score_with_features
from seqlm.nn import ModelConfig, RecurrentLM, evaluating
from seqlm.probe.gradients import gradient_flow
from seqlm.serve.compute import _read_padded, _recurrent_step

SMALL = "synthetic:train_tokens=20000,valid_tokens=3000,test_tokens=3000"


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(SMALL)


def calls(model, ids):
    yield "log_probs", lambda: model.log_probs(ids)
    yield "start", lambda: model.start(ids[:3])
    yield "next_log_probs", lambda: model.next_log_probs(model.start(ids[:3]))
    yield "advance", lambda: model.advance(model.start(ids[:3]), int(ids[3]))
    yield "context_state", lambda: model.context_state(ids[:5])
    yield "score_windows", lambda: model.score_windows([ids[:4], ids[4:8]], ids[8:10])
    yield "score_windows prefix", lambda: model.score_windows([ids[:4]], ids[8:9], prefix=ids)
    yield "gates", lambda: model.gates(ids)
    yield "gradient_flow", lambda: gradient_flow(model, ids, distance=4, windows=2)
    yield "score_with_features", lambda: score_with_features(model, ids)
    yield "serve _read_padded", lambda: _read_padded(model, [ids[:3], ids[:5]])
    yield "serve _recurrent_step", lambda: _recurrent_step(model, [model.start(ids[:2])] * 2)


@pytest.mark.parametrize("cell", ["lstm", "gru", "mogrifier"])
def test_every_method_restores_training_mode(corpus, cell):
    config = ModelConfig(
        vocab_size=len(corpus.vocab), cell=cell, embed=8, hidden=8, layers=2, dropout=0.5
    )
    model = RecurrentLM(config, corpus.vocab, "reference")
    model.reset_parameters(1)
    ids = np.asarray(corpus["valid"][:20])
    for name, call in calls(model, ids):
        model.train()
        call()
        assert model.training and all(m.training for m in model.modules()), name
        model.eval()
        call()
        assert not any(m.training for m in model.modules()), name


def test_evaluating_restores_the_mode_after_an_exception(corpus):
    config = ModelConfig(vocab_size=len(corpus.vocab), embed=8, hidden=8, layers=1)
    model = RecurrentLM(config, corpus.vocab).train()
    with pytest.raises(RuntimeError), evaluating(model):
        assert not model.training
        raise RuntimeError
    assert model.training
