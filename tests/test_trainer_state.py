"""The trainer's resumable progress: read from checkpoints of every age; stop reasons."""

from seqlm.train.resumable import Progress
from seqlm.train.schedule import Stop

# trainer.json as the first resumable checkpoints wrote it: the later fields absent
FIRST_FORMAT = {
    "step": 40,
    "epoch": 1,
    "window": 3,
    "tokens": 3200,
    "elapsed": 12.5,
    "best_valid": 150.2,
    "bad_evals": 1,
    "sgd_lr": 20.0,
    "history": [{"step": 20, "tokens": 1600, "wall": 6.0, "eval_s": 0.5, "valid_ppl": 150.2}],
    "eval_s": 1.0,
}


def test_progress_reads_checkpoints_without_the_later_fields():
    p = Progress.from_json(FIRST_FORMAT)
    assert (p.step, p.epoch, p.window, p.tokens, p.sgd_lr) == (40, 1, 3, 3200, 20.0)
    assert p.last_eval_step is None and p.average_from_step is None
    assert p.last_eval_s == p.last_eval_elapsed == 0.0 and p.average_count == 0
    assert p.budget_spent(includes_eval=True) == 12.5 + 1.0


def test_progress_round_trips_and_ignores_unknown_keys():
    p = Progress.from_json({**FIRST_FORMAT, "last_eval_s": 0.5, "from_a_newer_seqlm": 1})
    assert Progress.from_json(p.to_json()) == p
    assert list(p.to_json())[: len(FIRST_FORMAT)] == list(FIRST_FORMAT)  # same keys, order


def test_stop_reasons_keep_their_names():
    assert [s.value for s in Stop] == [
        "",
        "epochs",
        "max_steps",
        "early_stop",
        "budget",
        "interrupted",
        "max_tokens",
    ]
    assert Stop.BUDGET == "budget" and f"{Stop.INTERRUPTED}" == "interrupted"
