"""Progress you can see, and a plan measured on this machine (`seqlm.progress`,
`seqlm.train.calibrate`): a bar under a pseudo-terminal, status lines in a pipe, the
forecast and the recipe's size choice from a measured rate."""

import json
import os
import pty
import subprocess
import sys

import pytest
import torch
from conftest import MINI

from seqlm.data import load_corpus
from seqlm.train import calibrate, make_config
from seqlm.train.recipe import auto_recipe

TRAIN = [
    sys.executable,
    "-m",
    "seqlm",
    "train",
    "--data",
    MINI,
    "--cell",
    "lstm",
    "--embed",
    "8",
    "--hidden",
    "8",
    "--layers",
    "1",
    "--batch-size",
    "4",
    "--bptt",
    "10",
    "--max-tokens",
    "4000",
    "--epochs",
    "100",
    "--log-every",
    "2",
    "--threads",
    "1",
]


def run_in_pty(argv: list[str], env: dict) -> str:
    """What `argv` writes to its terminal, run under a pseudo-terminal (0x0 in size, as
    `pty.fork` leaves it: tqdm drew nothing there before)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns
        os.execvpe(argv[0], argv, env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_train_shows_a_bar_under_a_pseudo_terminal(tmp_path):
    out = run_in_pty([*TRAIN, "--out", str(tmp_path / "run")], dict(os.environ))
    bars = [line for line in out.replace("\r", "\n").splitlines() if "%|" in line]
    assert bars and any("train lstm" in b and "loss=" in b and "tok/s" in b for b in bars)
    assert "forecast: " in out and "forecast vs actual: " in out


def test_train_prints_status_lines_off_a_terminal(tmp_path):
    env = {**os.environ, "SEQLM_STATUS_INTERVAL": "0"}
    done = subprocess.run(
        [*TRAIN, "--out", str(tmp_path / "run"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(done.stdout)  # stdout stays one JSON object
    assert result["forecast"]["limit"] == "max_tokens" and result["forecast"]["tokens"] == 4000
    status = [line for line in done.stderr.splitlines() if line.startswith("train lstm:")]
    assert len(status) >= 3 and all("\r" not in line and "|" not in line for line in status)
    assert "loss=" in status[-1] and "4.00k/4.00k" in status[-1]


def test_calibration_times_real_steps_and_leaves_the_rng_alone(monkeypatch):
    corpus = load_corpus(MINI)
    config = make_config(corpus, overrides=dict(embed=8, hidden=8, layers=1, batch_size=4))
    monkeypatch.setattr(calibrate, "_rates", {})
    state = torch.get_rng_state()
    rate = calibrate.measure(config, corpus.vocab, threads=1)
    assert rate > 0 and torch.equal(state, torch.get_rng_state())
    assert calibrate.measure(config, corpus.vocab, threads=1) == rate  # cached per shape


def test_a_measured_rate_steps_the_recipe_down_only_under_a_time_budget():
    slow, fast = (lambda flat: 100.0), (lambda flat: 1e9)
    assert auto_recipe(200_000, 10_000, 10, rate=fast)["hidden"] == 400
    assert auto_recipe(200_000, 10_000, 10, rate=slow)["hidden"] == 200  # < 1 epoch: down
    assert auto_recipe(2_000_000, 10_000, 10, rate=slow)["hidden"] == 200
    # a token budget (or none) trains the same model on every machine
    assert auto_recipe(200_000, 10_000, 0, rate=slow) == auto_recipe(200_000, 10_000, 0)


def test_calibration_off_means_no_measure(monkeypatch):
    monkeypatch.setenv("SEQLM_CALIBRATE", "0")
    assert calibrate.rate_of(None, 1) is None
    monkeypatch.setenv("SEQLM_CALIBRATE", "1")
    assert calibrate.rate_of(None, 1) is not None


def test_forecast_follows_the_budget_that_stops_first_and_compares_with_actual(monkeypatch):
    monkeypatch.setenv("SEQLM_CALIBRATE", "0")
    corpus = load_corpus(MINI)
    train = len(corpus["train"])
    config = make_config(corpus, overrides=dict(hidden=8, max_minutes=1, epochs=3))
    fc = calibrate.forecast(config, corpus, fallback_rate=10.0)  # 600 tokens in the minute
    assert (fc.limit, fc.tokens, fc.measured) == ("max_minutes", 600, False)
    config = make_config(corpus, overrides=dict(hidden=8, max_minutes=1, epochs=3, max_tokens=50))
    assert calibrate.forecast(config, corpus, 10.0).tokens == 50
    config = make_config(corpus, overrides=dict(hidden=8, epochs=3))
    fc = calibrate.forecast(config, corpus, fallback_rate=1e6)
    assert fc.limit == "epochs" and fc.tokens == 3 * train and fc.epochs == 3
    assert "--max-minutes" in calibrate.describe(fc, config)
    line = calibrate.versus(fc, {"tokens_per_s": 5e5, "tokens": 3 * train})
    assert "(0.50x)" in line and "(1.00x)" in line


def test_the_verdict_names_the_budget_that_would_reach_the_5_gram(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQLM_CALIBRATE", "1")
    synthetic = load_corpus(MINI)
    assert calibrate.verdict(None, synthetic, None) is None  # a corpus with its own preset
    for split in ("train", "valid", "test"):  # the same text as a corpus without one
        words = " ".join(synthetic.vocab.decode(synthetic[split]))
        (tmp_path / f"{split}.txt").write_text(words.replace(" <eos> ", "\n"))
    corpus = load_corpus(str(tmp_path))
    config = make_config(corpus, overrides=dict(hidden=8))
    fc = calibrate.Forecast(1000.0, True, 60_000, 20.0, 60.0, "max_minutes", "12:00")
    line = calibrate.verdict(fc, corpus, config)
    # 2M tokens at 1,000 tokens/s: 2,000 s, i.e. 34 minutes
    assert "will NOT reach the 5-gram" in line and "--max-minutes 34 " in line
    assert calibrate.expected_ratio(calibrate.PARITY_TOKENS) == pytest.approx(1.0)
    fc.tokens = 3 * calibrate.PARITY_TOKENS
    assert calibrate.verdict(fc, corpus, config) is None


def test_a_task_without_steps_prints_status_lines_off_a_terminal(monkeypatch, capsys):
    import time

    from seqlm.progress import working

    monkeypatch.setenv("SEQLM_STATUS_INTERVAL", "0.01")
    with working("counting 5-grams"):
        time.sleep(0.3)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("counting 5-grams: running, 00:00 elapsed")
    assert err[-1].startswith("counting 5-grams: done in ")


def test_forecast_names_the_transformer_by_its_width_not_its_mlp(monkeypatch):
    monkeypatch.setenv("SEQLM_CALIBRATE", "0")
    corpus = load_corpus(MINI)
    config = make_config(corpus, overrides=dict(max_minutes=1), preset="ptb-transformer")
    line = calibrate.describe(calibrate.forecast(config, corpus, 10.0), config)
    assert "2 blocks of 256 (MLP 512) transformer" in line
    config = make_config(corpus, overrides=dict(hidden=8, layers=2, max_minutes=1))
    assert "2x8 lstm" in calibrate.describe(calibrate.forecast(config, corpus, 10.0), config)
