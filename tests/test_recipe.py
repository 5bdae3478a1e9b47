"""Training without a preset: a recipe fitted to the corpus; validation kept to its share."""

import json
import logging
import math

import pytest
from conftest import synthetic

from seqlm.data import load_corpus
from seqlm.train import train
from seqlm.train.recipe import auto_recipe

SMALL = synthetic(12_000, 3_000, 1_500)
# a tiny AdamW model under a 10-minute budget, for the tests of the schedule and the stop
BUDGETED = dict(
    cell="lstm",
    embed=8,
    hidden=8,
    optimizer="adamw",
    lr=1e-2,
    warmup_steps=0,
    min_lr_ratio=0.0,
    max_steps=10_000,
    epochs=1000,
    max_minutes=10,
    threads=1,
)


def test_recipe_follows_corpus_size_and_budget(caplog):
    with caplog.at_level(logging.INFO, logger="seqlm"):
        small = auto_recipe(200_000, 30_000, max_minutes=10)
    assert small["hidden"] == 400 and small["dropout"] == 0.5 and small["weight_drop"] > 0
    assert small["adaptive_cutoffs"] and not small.get("tied")  # large vocabulary
    assert (
        small["optimizer"] == "adamw"
        and small["eval_share"] == 0.1
        and small["decay_fraction"] == 0.5  # read ~16 times: anneals over the last half
    )
    assert "200,000 training tokens" in caplog.text and "budget 10 min" in caplog.text
    mid, large = auto_recipe(2_000_000, 10_000), auto_recipe(50_000_000, 10_000, 60)
    assert mid["hidden"] == 650 and mid["adaptive_cutoffs"] == [2000, 6000]  # 10K words
    assert large["hidden"] == 1024 and auto_recipe(2_000_000, 5_000)["tied"]
    assert large["dropout"] < mid["dropout"] < small["dropout"] and large["epochs"] == 1
    assert auto_recipe(200_000, 10_000, 60)["epochs"] > auto_recipe(200_000, 10_000, 5)["epochs"]


def test_a_corpus_under_1m_read_only_a_few_times_gets_the_ptb_shape():
    """PTB as plain files (929,589 tokens): 15 minutes read it ~3 times at this machine's
    rate, too few to overfit; the small-corpus recipe ended 24% behind (143.37 vs 116.47)."""
    few = auto_recipe(929_589, 10_000, 15, rate=lambda flat: 3_233.0)
    many = auto_recipe(929_589, 10_000, 60, rate=lambda flat: 3_233.0)
    assert few["hidden"] == 650 and few["dropout"] < 0.5 and few["decay_fraction"] == 0.25
    assert many["hidden"] == 400 and many["dropout"] == 0.5 and many["decay_fraction"] == 0.5
    assert auto_recipe(929_589, 10_000)["hidden"] == 400  # no budget: many epochs


def test_a_corpus_without_preset_gets_the_recipe(tmp_path, caplog):
    corpus = load_corpus(SMALL)
    for split in ("train", "valid", "test"):
        words = corpus.vocab.decode(corpus[split])
        text = " ".join(words).replace(" <eos> ", "\n").replace("<eos>", "\n")
        (tmp_path / f"{split}.txt").write_text(text)
    with caplog.at_level(logging.INFO, logger="seqlm"):
        # the recipe's sizes are overridden to keep the test fast; the rest is the recipe's
        train(
            str(tmp_path),
            tmp_path / "run",
            embed=8,
            hidden=8,
            max_steps=30,
            eval_every=1,
            eval_tokens=500,
            eval_share=0.02,
            threads=1,
        )
    assert "recipe picked" in caplog.text
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["weight_drop"] == 0.3 and config["model"]["tied"]
    assert config["train"]["optimizer"] == "adamw"
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    checks = [r for r in rows if r["type"] == "valid"]
    assert all(r["valid_tokens"] == 500 for r in checks)
    assert 1 <= len(checks) < 15  # due every step; most skipped to keep to the 2% share


def test_budget_schedule_ends_the_cosine_with_the_budget(tmp_path):
    from seqlm.train import Trainer, make_config

    corpus = load_corpus(SMALL)
    settings = BUDGETED
    trainer = Trainer(
        make_config("x", overrides={**settings, "budget_schedule": True}), corpus, tmp_path / "a"
    )
    trainer.progress.elapsed = 5 * 60.0  # half the budget, 1% of the steps
    assert trainer.lr_at(100) == pytest.approx(0.5e-2)  # cos(pi/2): halfway down
    trainer.progress.elapsed = 10 * 60.0
    assert trainer.lr_at(100) == pytest.approx(0.0, abs=1e-12)
    plain = Trainer(make_config("x", overrides=settings), corpus, tmp_path / "b")
    plain.progress.elapsed = 5 * 60.0
    assert plain.lr_at(100) == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 0.01)))


def test_decay_fraction_holds_the_peak_then_decays(tmp_path):
    from seqlm.train import Trainer, make_config

    settings = dict(BUDGETED, max_steps=1000, max_minutes=0, decay_fraction=0.2)
    trainer = Trainer(make_config("x", overrides=settings), load_corpus(SMALL), tmp_path)
    assert trainer.lr_at(0) == trainer.lr_at(799) == 1e-2  # stable
    assert trainer.lr_at(900) == pytest.approx(0.5e-2)  # halfway through the last 20%
    assert trainer.lr_at(1000) == pytest.approx(0.0, abs=1e-12)


def test_a_corpus_preset_applies_only_at_its_own_level():
    from seqlm.train import make_config

    char = make_config("tinyshakespeare", level="char", sizes=(1_000_000, 65))
    word = make_config("tinyshakespeare", level="word", sizes=(218_000, 23_843))
    assert char.bptt == 128 and char.model.hidden == 512  # the char-level preset
    assert word.model.hidden == 400 and word.model.adaptive_cutoffs  # the size-fitted recipe
    assert make_config("ptb", level="word").model.hidden == 650


def test_budget_including_validation_stops_in_wall_time(tmp_path):
    from seqlm.train import Trainer, make_config

    settings = {**BUDGETED, "budget_schedule": True}
    corpus = load_corpus(SMALL)
    wall = Trainer(
        make_config("x", overrides={**settings, "budget_includes_eval": True}),
        corpus,
        tmp_path / "a",
    )
    plain = Trainer(make_config("x", overrides=settings), corpus, tmp_path / "b")
    for trainer in (wall, plain):  # 4 min trained, 0.5 min validated, the last check 0.5 min
        trainer.progress.elapsed, trainer.progress.eval_s = 4 * 60.0, 30.0
        trainer.progress.last_eval_s = 30.0
    # wall: 5 of 10 minutes spent (with the reserved check): the cosine is halfway down
    assert wall.lr_at(100) == pytest.approx(0.5e-2)
    assert plain.lr_at(100) == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 0.4)))
    for trainer in (wall, plain):
        trainer.progress.elapsed = 9 * 60.0
    assert wall._local_stop(False) == "budget" and plain._local_stop(False) == ""
    assert wall.lr_at(100) == pytest.approx(0.0, abs=1e-12)
