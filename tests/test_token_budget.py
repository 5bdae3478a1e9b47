"""A token budget stops training at the same place on any machine, and the schedule with it."""

from conftest import SMALL_2K

from seqlm.data import load_corpus
from seqlm.data.spec import CorpusSpec
from seqlm.train import Trainer, make_config


def test_max_tokens_stops_after_the_budget_and_ends_the_lr_schedule_there(tmp_path):
    corpus = load_corpus(CorpusSpec(SMALL_2K))
    config = make_config(
        "synthetic",
        None,
        {"cell": "rnn", "max_tokens": 8000, "epochs": 5, "eval_every": 0, "deterministic": True},
    )
    trainer = Trainer(config, corpus, tmp_path / "a")
    per_step = config.batch_size * config.bptt  # 32 x 50 = 1,600 tokens
    assert trainer.total_steps == 5  # the cosine schedule spans the budget, not 5 epochs
    summary = trainer.run()
    assert summary["stop"] == "max_tokens" and summary["tokens"] == 5 * per_step
    again = Trainer(config, corpus, tmp_path / "b").run()
    assert again["best_valid_ppl"] == summary["best_valid_ppl"]  # deterministic
