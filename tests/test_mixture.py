"""The mixture of a recurrent model and an n-gram as a saved model: built with λ tuned on
valid only, saved self-contained, loaded from anywhere, accepted by eval, generate, serve."""

import json
import math
import os

import numpy as np
import pytest
from conftest import SMALL
from serve_models import make_models

from seqlm.evaluate.interpolate import GRID, InterpolatedLM
from seqlm.evaluate.mixture import best_of_both, build_mixture, save_mixture
from seqlm.io import SeqlmError
from seqlm.loading import load

TEXT = "the old dogs near a river chase a bird\nthe cat ( with a hat ) sees every fox"


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    paths = make_models(tmp_path_factory.mktemp("parts"))
    yield load(paths["lstm"]), load(paths["3gram"])
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def saved(parts, small_corpus, tmp_path_factory):
    lstm, ngram = parts
    mixture = build_mixture(lstm, ngram, small_corpus)
    return mixture, save_mixture(mixture, tmp_path_factory.mktemp("m") / "mixture")


class SplitSpy:
    """A corpus that records which splits are read."""

    def __init__(self, corpus):
        self.corpus, self.read = corpus, []
        self.vocab = corpus.vocab

    def __getitem__(self, split):
        self.read.append(split)
        return self.corpus[split]


def reference(lstm, ngram, weight: float, ids) -> np.ndarray:
    """ln((1 − λ) P_lstm + λ P_ngram), from the parts' probabilities in float64."""
    p = np.exp(np.asarray(lstm.log_probs(ids), dtype=np.float64))
    q = np.exp(np.asarray(ngram.log_probs(ids), dtype=np.float64))
    return np.log((1 - weight) * p + weight * q)


def test_weight_is_tuned_on_valid_only(parts, small_corpus):
    lstm, ngram = parts
    spy = SplitSpy(small_corpus)
    mixture = build_mixture(lstm, ngram, spy)
    assert set(spy.read) == {"valid"}
    ids = small_corpus["valid"]
    losses = [-reference(lstm, ngram, w, ids).mean() for w in GRID]
    assert mixture.weight == GRID[int(np.argmin(losses))]


def test_saved_mixture_loads_elsewhere_and_scores_the_weighted_sum(
    parts, saved, small_corpus, tmp_path, monkeypatch
):
    lstm, ngram = parts
    mixture, directory = saved
    config = json.loads((directory / "config.json").read_text())
    assert config["kind"] == "mixture" and config["parts"] == ["neural", "ngram"]
    assert config["weight"] == mixture.weight and config["tuned_on"] == "valid"
    moved = tmp_path / "elsewhere" / "best"
    moved.parent.mkdir()
    os.rename(directory, moved)  # self-contained: it moves as a whole
    try:
        monkeypatch.chdir(tmp_path)
        loaded = load(os.path.relpath(moved, tmp_path))
        assert loaded.kind == "mixture"
        ids = small_corpus["test"]
        np.testing.assert_array_equal(
            loaded.log_probs(ids), InterpolatedLM(lstm, ngram, mixture.weight).log_probs(ids)
        )
        np.testing.assert_allclose(
            loaded.log_probs(ids), reference(lstm, ngram, mixture.weight, ids), rtol=1e-10
        )
        # token by token, as generate and the server use it
        state = loaded.start()
        ref = reference(lstm, ngram, mixture.weight, ids[:20])
        for t, token in enumerate(ids[:20].tolist()):
            assert loaded.next_log_probs(state)[token] == pytest.approx(ref[t], abs=1e-5)
            state = loaded.advance(state, token)
    finally:
        os.rename(moved, directory)


def test_eval_and_generate_accept_a_mixture(parts, saved, small_corpus, capsys):
    from seqlm.cli import main

    lstm, ngram = parts
    mixture, directory = saved
    assert main(["eval", str(directory), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = -reference(lstm, ngram, mixture.weight, small_corpus["test"]).mean()
    assert out["corpus"] == small_corpus.name and out["model"] == "mixture"
    assert out["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert main(["generate", str(directory), "--prompt", "the dog", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert load(directory).generate("the dog", 50, seed=3).strip() in text


def test_serve_accepts_a_mixture(saved):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from seqlm.serve import Limits, create_app, load_models

    mixture, directory = saved
    models = load_models([str(directory)])
    with TestClient(create_app(models, Limits(max_chars=2000, max_tokens=300))) as client:
        listed = client.get("/models").json()["models"]
        assert listed[0]["kind"] == "mixture"
        assert listed[0]["valid_perplexity"] is not None
        scores = client.post("/score", json={"text": TEXT}).json()["scores"]["mixture"]
        np.testing.assert_allclose(
            scores["log_probs"], models["mixture"].lm.score(TEXT).log_probs, atol=1e-6
        )
        r = client.post("/generate", json={"model": "mixture", "max_tokens": 8, "seed": 2})
        assert r.status_code == 200


def test_best_of_both_reports_three_models_and_saves_the_mixture(parts, small_corpus, tmp_path):
    lstm, ngram = parts
    result = best_of_both(lstm, ngram, small_corpus, tmp_path / "mix")
    nats = {k: result[k]["test"]["nats_per_token"] for k in ("neural", "ngram", "mixture")}
    assert result["best"] == min(nats, key=nats.get)
    # the mixture at λ tuned on valid is never worse than both parts on valid
    valid = {k: result[k]["valid"]["nats_per_token"] for k in ("neural", "ngram", "mixture")}
    assert valid["mixture"] <= min(valid["neural"], valid["ngram"]) + 1e-9
    again = load(result["path"])
    assert again.weight == result["weight"]
    assert json.loads((tmp_path / "mix" / "config.json").read_text())["corpus"]["source"] == SMALL
    with pytest.raises(SeqlmError, match="already holds a model .* --overwrite"):
        save_mixture(again, tmp_path / "mix")
    assert (tmp_path / "mix" / "manifest.json").exists()


def test_train_on_a_corpus_without_preset_reports_and_saves_the_mixture(tmp_path, capsys):
    from conftest import write

    from seqlm.cli import main
    from seqlm.data import load_corpus

    text = load_corpus(SMALL)
    for split, n in (("train", 6000), ("valid", 1500), ("test", 1500)):
        words = text.vocab.decode(text[split][:n])
        write(tmp_path / "own" / f"{split}.txt", " ".join(words).replace(" <eos> ", "\n") + "\n")
    argv = ["train", "--data", str(tmp_path / "own"), "--out", str(tmp_path / "run")]
    argv += ["--cell", "lstm", "--embed", "8", "--hidden", "12", "--layers", "1"]
    argv += ["--batch-size", "8", "--bptt", "10", "--max-steps", "15", "--threads", "1"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    mixture = out["mixture"]
    assert mixture["tuned_on"] == "valid" and mixture["path"] == str(tmp_path / "run" / "mixture")
    assert mixture["neural"]["test"]["perplexity"] == out["test"]["perplexity"]
    loaded = load(tmp_path / "run" / "mixture")
    assert loaded.weight == mixture["weight"] and loaded.second.order == 5
    corpus = load_corpus(str(tmp_path / "own"))
    ids = corpus["test"]
    expected = reference(loaded.first, loaded.second, loaded.weight, ids)
    assert mixture["mixture"]["test"]["perplexity"] == pytest.approx(
        math.exp(-expected.mean()), rel=1e-5
    )
