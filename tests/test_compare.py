import json

import pytest
from conftest import SMALL

from seqlm.cli import main
from seqlm.compare import Budget, parse_budget, parse_models


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_table_equals_eval_and_reruns_reuse_models(capsys, tmp_path):
    argv = [
        "compare",
        SMALL,
        "--models",
        "ngram:3,ngram:2:wb,lstm",
        "--budget",
        "2s",
        "--from",
        str(tmp_path / "models"),
        "--report",
        str(tmp_path / "report"),
        "--json",
    ]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    result = json.loads(out)
    assert [r["model"] for r in result["rows"]] == sorted(
        [r["model"] for r in result["rows"]],
        key=lambda m: next(r["test"]["nats_per_token"] for r in result["rows"] if r["model"] == m),
    )
    for row in result["rows"]:
        code, out, _ = run(capsys, "eval", row["path"], "--data", SMALL, "--json")
        assert json.loads(out)["perplexity"] == row["test"]["perplexity"]
        assert row["test"]["gap_nats"] > 0  # nobody beats the entropy floor
    mixture = result["mixture"]  # the best neural and the best n-gram, weight tuned on valid
    assert mixture["tuned_on"] == "valid" and mixture["neural"]["model"] == "lstm"
    code, out, _ = run(capsys, "eval", mixture["path"], "--json")
    assert json.loads(out)["perplexity"] == mixture["mixture"]["test"]["perplexity"]
    assert "mixture" in result["table"] and "tuned on valid" in result["table"]
    report = (tmp_path / "report" / "report.html").read_text()
    assert "<table>" in report and report.count("data:image/png;base64,") >= 2
    assert "http://" not in report and "https://" not in report  # works offline
    code, out, err = run(capsys, *argv[:-1])
    assert code == 0 and err.count("reusing") == 3 and "training" not in err
    assert out.count(" cached\n") == 3  # reuse is visible on stdout, not only on stderr
    code, out, err = run(capsys, *argv[:-1], "--retrain")
    assert code == 0 and "reusing" not in err and out.count(" trained\n") == 3


def test_token_budget_gives_the_same_table_in_fresh_directories(capsys, tmp_path):
    """Same budget, same seeds: identical models (only the time columns may differ)."""
    tables = []
    for name in ("a", "b"):
        code, out, _ = run(
            capsys,
            "compare",
            SMALL,
            "--models",
            "ngram:2,rnn",
            "--budget",
            "20k",
            "--seeds",
            "2",
            "--from",
            str(tmp_path / name),
            "--json",
        )
        assert code == 0
        result = json.loads(out)
        tables.append(
            [
                (
                    r["model"],
                    r["tokens"],
                    r["test"]["perplexity"],
                    r["test"]["perplexity_sd"] if r["kind"] != "ngram" else None,
                    r["valid"]["perplexity"],
                )
                for r in result["rows"]
            ]
        )
        seen = next(r["tokens"] for r in result["rows"] if r["kind"] == "rnn")
        assert 20000 <= seen < 20000 + 32 * 50  # the budget, rounded up to a whole step
        assert result["rows"][0]["runs"][0]["seed"] == 1 and result["ranking"]
    assert tables[0] == tables[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", SMALL, "--models", "ngram:x"], "unknown model spec"),
        (["compare", SMALL, "--models", "lsmt"], "unknown model spec"),
        (["compare", SMALL, "--budget", "soon"], "cannot parse budget"),
        (["compare", "/no/such/corpus"], "no such file"),
        (["compare", SMALL, "--models", "ngram:2", "--report", "/proc/forbidden"], "cannot write"),
    ],
)
def test_bad_compare_input(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_spec_and_budget_parsing():
    assert parse_budget("2M") == Budget(tokens=2_000_000)
    assert parse_budget("500k") == Budget(tokens=500_000) == parse_budget("500000")
    assert parse_budget("10m") == Budget(minutes=10)  # lower-case m: minutes
    assert [s.name for s in parse_models("ngram:5, lstm,ngram:3:kn")] == [
        "5-gram",
        "lstm",
        "3-gram kn",
    ]
    assert parse_budget("90s").minutes == 1.5 and parse_budget("2h").minutes == 120


def test_help_explains_the_cache_and_budgets(capsys):
    main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "cached" in text and "--retrain" in text and "seed" in text and "2M" in text


def test_a_model_directory_is_locked_while_one_process_writes_it(tmp_path):
    """A second run waits for the lock instead of reading a model being written."""
    import threading
    import time

    from seqlm.compare import model_lock

    directory, events = tmp_path / "lstm-abc", []

    def writer():
        with model_lock(directory):
            events.append("writer in")
            time.sleep(0.3)
            events.append("writer out")

    thread = threading.Thread(target=writer)
    thread.start()
    while not events:
        time.sleep(0.01)
    with model_lock(directory):
        events.append("reader in")
    thread.join()
    assert events == ["writer in", "writer out", "reader in"]
