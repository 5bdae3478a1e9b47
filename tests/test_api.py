"""The Python API end to end: the same figures as the CLI, text in and text out."""

import json
import math
import shutil

import numpy as np
import pytest
from conftest import MEDIUM

import seqlm
from seqlm.cli import main

SETTINGS = dict(
    cell="lstm",
    embed=16,
    hidden=32,
    layers=1,
    batch_size=8,
    bptt=20,
    max_steps=30,
    eval_every=15,
    log_every=5,
    checkpoint_every=10,
    threads=1,
    seed=3,
    optimizer="adamw",
    lr=0.01,
    warmup_steps=5,
)
TEXT = "every student beside a calm baker laughs\nsome dogs see those big queens\n"


def flags(settings: dict) -> list[str]:
    return [a for k, v in settings.items() for a in ("--" + k.replace("_", "-"), str(v))]


def cli_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "lstm"
    return out, seqlm.train(MEDIUM, out, **SETTINGS)


@pytest.fixture(scope="module")
def text_corpus(tmp_path_factory):
    """A corpus directory whose test split is TEXT: `seqlm eval` on it scores TEXT."""
    folder = tmp_path_factory.mktemp("text")
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text(TEXT, encoding="utf-8")
    return folder


def test_train_returns_what_the_cli_prints(trained, tmp_path, capsys):
    out, result = trained
    cli = cli_json(
        capsys, "train", "--data", MEDIUM, "--out", str(tmp_path / "cli"), *flags(SETTINGS)
    )
    assert result.steps == cli["steps"] == 30 and result.tokens == cli["tokens"]
    assert result.valid.perplexity == cli["valid"]["perplexity"]
    assert result.test.nats_per_token == cli["test"]["nats_per_token"]
    assert result.parameters == cli["parameters"] and result.cell == "lstm"
    a = (out / "model.safetensors").read_bytes()
    assert a == (tmp_path / "cli" / "model.safetensors").read_bytes()


def test_perplexity_of_a_string_equals_seqlm_eval(trained, text_corpus, capsys):
    out, _ = trained
    lm = seqlm.load(out)
    cli = cli_json(capsys, "eval", str(out), "--data", str(text_corpus), "--split", "test")
    scores = lm.score(TEXT)
    assert cli["tokens"] == len(scores.tokens) == len(scores.log_probs)
    assert lm.perplexity(TEXT) == pytest.approx(cli["perplexity"], abs=1e-4)
    assert scores.nats_per_token == pytest.approx(cli["nats_per_token"], abs=1e-6)
    # the text-level score is the id-level one, token for token
    ids = lm.vocab.encode(scores.tokens)
    np.testing.assert_allclose(scores.log_probs, lm.log_probs(ids))
    assert scores.tokens[-1] == "<eos>" and scores.tokens.count("<eos>") == 2


def test_ngram_build_save_load_and_eval_agree(tmp_path, text_corpus, capsys):
    corpus = seqlm.load_corpus(MEDIUM)
    ng = seqlm.ngram.build(corpus, order=3)
    ng.save(tmp_path / "ng")
    again = seqlm.load(tmp_path / "ng")
    assert again.perplexity(TEXT) == pytest.approx(ng.perplexity(TEXT), rel=1e-6)  # ARPA digits
    cli = cli_json(capsys, "eval", str(tmp_path / "ng"), "--data", str(text_corpus))
    assert again.perplexity(TEXT) == pytest.approx(cli["perplexity"], abs=1e-4)
    # the model remembers its corpus: eval without --data uses it
    default = cli_json(capsys, "eval", str(tmp_path / "ng"))
    assert default["corpus"] == MEDIUM
    assert default["perplexity"] == seqlm.evaluate(again, corpus, "test").perplexity


def test_unknown_words_are_flagged_and_scored_as_unk(trained):
    lm = seqlm.load(trained[0])
    scores = lm.score("every zebra laughs")
    assert scores.oov == [False, True, False, False]
    assert lm.unknown_words("every zebra laughs") == ["zebra"]
    unk = lm.vocab.encode(["every", "<unk>", "laughs", "<eos>"])
    np.testing.assert_allclose(scores.log_probs, lm.log_probs(unk))


def test_generate_with_a_seed_is_reproducible_and_equals_the_cli(trained, capsys):
    out, _ = trained
    lm = seqlm.load(out)
    a = lm.generate("every student", max_tokens=15, temperature=0.8, seed=1)
    assert a == lm.generate("every student", max_tokens=15, temperature=0.8, seed=1)
    assert a != lm.generate("every student", max_tokens=15, temperature=0.8, seed=2)
    cli = cli_json(
        capsys,
        "generate",
        str(out),
        "--prompt",
        "every student",
        "--max-tokens",
        "15",
        "--temperature",
        "0.8",
        "--seed",
        "1",
    )
    assert cli["text"] == a and a.startswith(" ")  # continues the prompt's line


def test_next_tokens_are_the_model_distribution(trained):
    lm = seqlm.load(trained[0])
    top = lm.next_tokens("every student", k=5)
    log_probs = lm.next_log_probs(lm.start(lm.prompt_ids("every student")))
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert top[0][1] == pytest.approx(math.exp(log_probs.max()))


def test_format_1_model_directories_still_load_and_resume(trained, tmp_path, capsys):
    """A directory written before config.json format 2 (corpus settings at the top, the
    model's settings repeated in `train`, `kind` for the cell) loads and resumes."""
    out, _ = trained
    old = tmp_path / "old"
    shutil.copytree(out, old)
    (old / "manifest.json").unlink()  # format 1 predates manifests
    new = json.loads((old / "config.json").read_text())
    model = {("kind" if k == "cell" else k): v for k, v in new["model"].items()}
    train = {
        **new["train"],
        **{k: v for k, v in new["model"].items() if k not in ("vocab_size", "cell")},
        "model": new["model"]["cell"],
    }
    corpus = new["corpus"]
    v1 = {
        "kind": "lstm",
        "format_version": 1,
        "seqlm_version": "0.1.0",
        "model": model,
        "level": "word",
        "corpus": corpus["source"],
        "max_vocab": None,
        "min_count": 1,
        "split_fractions": None,
        "train": train,
    }
    (old / "config.json").write_text(json.dumps(v1))
    a, b = seqlm.load(out), seqlm.load(old)
    assert a.perplexity(TEXT) == b.perplexity(TEXT)
    assert cli_json(capsys, "eval", str(old)) | {"model_path": ""} == cli_json(
        capsys, "eval", str(out)
    ) | {"model_path": ""}
    resumed = cli_json(capsys, "train", "--resume", str(old), "--max-steps", "40")
    assert resumed["steps"] == 40
    assert json.loads((old / "config.json").read_text())["format_version"] == 2


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(seqlm.SeqlmError, match=r"setting hidden \(--hidden\) must be in \[1, "):
        seqlm.train(MEDIUM, tmp_path / "x", hidden=0)
    with pytest.raises(seqlm.SeqlmError, match=r"setting hidden \(--hidden\) must be an integer"):
        seqlm.train(MEDIUM, tmp_path / "x", hidden="32")
    with pytest.raises(seqlm.SeqlmError, match="unknown settings hiden"):
        seqlm.train(MEDIUM, tmp_path / "x", hiden=32)
    with pytest.raises(seqlm.SeqlmError, match=r"setting clip \(--clip\) must be a finite number"):
        seqlm.train(MEDIUM, tmp_path / "x", clip=float("nan"))
