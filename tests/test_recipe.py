"""Training without a preset: a recipe fitted to the corpus; validation kept to its share."""

import json
import logging

from seqlm.data import load_corpus
from seqlm.train import train
from seqlm.train.recipe import auto_recipe

SMALL = "synthetic:train_tokens=12000,valid_tokens=3000,test_tokens=1500"


def test_recipe_follows_corpus_size_and_budget(caplog):
    with caplog.at_level(logging.INFO, logger="seqlm"):
        small = auto_recipe(200_000, 30_000, max_minutes=10)
    assert small["hidden"] == 400 and small["dropout"] == 0.5 and small["weight_drop"] > 0
    assert small["adaptive_cutoffs"] and not small.get("tied")  # large vocabulary
    assert small["optimizer"] == "adamw" and small["eval_share"] == 0.1
    assert "200,000 training tokens" in caplog.text and "budget 10 min" in caplog.text
    mid, large = auto_recipe(2_000_000, 10_000), auto_recipe(50_000_000, 10_000, 60)
    assert mid["hidden"] == 650 and mid["tied"] and large["hidden"] == 1024
    assert large["dropout"] < mid["dropout"] < small["dropout"] and large["epochs"] == 1
    assert auto_recipe(200_000, 10_000, 60)["epochs"] > auto_recipe(200_000, 10_000, 5)["epochs"]


def test_a_corpus_without_preset_gets_the_recipe(tmp_path, caplog):
    corpus = load_corpus(SMALL)
    for split in ("train", "valid", "test"):
        words = corpus.vocab.decode(corpus[split])
        text = " ".join(words).replace(" <eos> ", "\n").replace("<eos>", "\n")
        (tmp_path / f"{split}.txt").write_text(text)
    with caplog.at_level(logging.INFO, logger="seqlm"):
        # the recipe's sizes are overridden to keep the test fast; the rest is the recipe's
        train(str(tmp_path), tmp_path / "run", embed=8, hidden=8, max_steps=30, eval_every=1,
              eval_tokens=500, eval_share=0.02, threads=1)  # fmt: skip
    assert "recipe picked" in caplog.text
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["weight_drop"] == 0.3 and config["model"]["tied"]
    assert config["train"]["optimizer"] == "adamw"
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    checks = [r for r in rows if r["type"] == "valid"]
    assert all(r["valid_tokens"] == 500 for r in checks)
    assert 1 <= len(checks) < 15  # due every step; most skipped to keep to the 2% share
