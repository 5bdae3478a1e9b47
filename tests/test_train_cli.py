"""Training from the command line: resume after SIGKILL, Ctrl-C, NaN, eval and generate."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import MEDIUM as SMALL

from seqlm.cli import main

TINY = [
    "--data",
    SMALL,
    "--model",
    "lstm",
    "--embed",
    "16",
    "--hidden",
    "48",
    "--layers",
    "1",
    "--batch-size",
    "8",
    "--bptt",
    "20",
    "--epochs",
    "3",
    "--checkpoint-every",
    "5",
    "--eval-every",
    "40",
    "--log-every",
    "5",
    "--threads",
    "1",
    "--seed",
    "3",
    "--dropout",
    "0.2",
    "--optimizer",
    "adamw",
    "--lr",
    "0.01",
    "--warmup-steps",
    "10",
]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tiny(cell: str) -> list[str]:
    """TINY with another `--model` (every cell takes the same small settings)."""
    args = list(TINY)
    args[args.index("--model") + 1] = cell
    return args


def start(out_dir, env_extra=None, cell: str = "lstm"):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "seqlm", "train", *tiny(cell), "--out", str(out_dir), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def wait_for_step(out_dir, proc, step):
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if json.loads((out_dir / "trainer.json").read_text())["step"] >= step:
                return
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        if proc.poll() is not None:
            pytest.fail(f"training ended before step {step}: {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("training too slow")


@pytest.mark.parametrize("cell", ["lstm", "transformer", "mlstm", "slstm", "mingru", "minlstm"])
def test_sigkill_then_resume_ends_like_an_uninterrupted_run(capsys, tmp_path, cell):
    code, out, _ = run(capsys, "train", *tiny(cell), "--out", str(tmp_path / "whole"), "--json")
    assert code == 0
    whole = json.loads(out)
    proc = start(tmp_path / "killed", cell=cell)
    wait_for_step(tmp_path / "killed", proc, 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    code, out, _ = run(capsys, "train", "--resume", str(tmp_path / "killed"), "--json")
    resumed = json.loads(out)
    assert code == 0 and resumed["steps"] == whole["steps"]
    assert resumed["best_valid_ppl"] == whole["best_valid_ppl"]
    assert resumed["test"]["perplexity"] == whole["test"]["perplexity"]


def test_ctrl_c_saves_and_exits_cleanly(capsys, tmp_path):
    proc = start(tmp_path / "run")
    wait_for_step(tmp_path / "run", proc, 20)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    step = json.loads((tmp_path / "run" / "trainer.json").read_text())["step"]
    assert step >= 20
    code, out, _ = run(
        capsys, "train", "--resume", str(tmp_path / "run"), "--max-steps", str(step + 5), "--json"
    )
    assert code == 0 and json.loads(out)["steps"] == step + 5


def test_eval_and_generate_on_a_trained_model(capsys, tmp_path):
    out_dir = str(tmp_path / "m")
    code, out, _ = run(capsys, "train", *TINY, "--out", out_dir, "--max-steps", "30", "--json")
    trained = json.loads(out)
    code, out, _ = run(capsys, "eval", out_dir, "--split", "test", "--json")
    assert code == 0 and json.loads(out)["perplexity"] == trained["test"]["perplexity"]
    assert json.loads(out)["floor_perplexity"] > 1
    code, out, _ = run(
        capsys,
        "generate",
        out_dir,
        "--prompt",
        "the dog",
        "--max-tokens",
        "12",
        "--seed",
        "1",
        "--json",
    )
    assert code == 0 and len(json.loads(out)["tokens"]) == 12
    code, greedy1, _ = run(capsys, "generate", out_dir, "--temperature", "0", "--max-tokens", "8")
    code, greedy2, _ = run(capsys, "generate", out_dir, "--temperature", "0", "--max-tokens", "8")
    assert greedy1 == greedy2 and greedy1
    code, out, _ = run(
        capsys,
        "generate",
        out_dir,
        "--precision",
        "bf16",
        "--max-tokens",
        "12",
        "--seed",
        "1",
        "--json",
    )
    assert code == 0 and len(json.loads(out)["tokens"]) == 12
    assert main(["ngram", "train", SMALL, "--order", "2", "--out", str(tmp_path / "ng")]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "generate", str(tmp_path / "ng"), "--precision", "bf16")
    assert code == 2 and "neural models only" in err and err.count("\n") == 1


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(
    capsys, tmp_path, monkeypatch
):
    from seqlm.nn.recurrent import RecurrentLM

    real_loss, calls = RecurrentLM.loss, {"n": 0}

    def failing_loss(self, *args, **kwargs):
        loss, state = real_loss(self, *args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] > 50 else loss), state

    monkeypatch.setattr(RecurrentLM, "loss", failing_loss)
    code, _, err = run(capsys, "train", *TINY, "--out", str(tmp_path / "nan"))
    # the forecast came before training; the failure itself is one line, no traceback
    assert code == 2 and "loss became nan at step" in err.splitlines()[-1]
    assert "Traceback" not in err and err.count("seqlm: error") == 1
    monkeypatch.undo()
    code, out, _ = run(capsys, "eval", str(tmp_path / "nan"), "--json")  # the good one survives
    assert code == 0 and json.loads(out)["perplexity"] < 200


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "lsmt", "--data", SMALL, "--out", "x"], "invalid choice"),
        (["train", "--data", SMALL, "--out", "{tmp}/a", "--batch-size", "20000"], "too small"),
        (["train", "--resume", "{tmp}/nothing"], "no such model directory"),
        (["train", "--data", SMALL, "--out", "{tmp}/a", "--lr", "-1"], "--lr"),
        (["train", "--data", SMALL, "--out", "{tmp}/a", "--eval-streams", "0"], "--eval-streams"),
        (
            ["train", "--data", SMALL, "--out", "{tmp}/a", "--config", "{tmp}/none.toml"],
            "no such config",
        ),
    ],
)
def test_bad_training_input(capsys, tmp_path, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_toml_config_file(capsys, tmp_path):
    (tmp_path / "c.toml").write_text("[train]\nhidden = 20\nmax-steps = 3\nembed = 8\n")
    code, out, _ = run(
        capsys,
        "train",
        "--data",
        SMALL,
        "--out",
        str(tmp_path / "m"),
        "--config",
        str(tmp_path / "c.toml"),
        "--json",
    )
    assert code == 0 and json.loads(out)["steps"] == 3
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model"]["hidden"] == 20


@pytest.mark.parametrize("amp, backend", [("bf16", "fused"), ("fp16", "reference")])
def test_mixed_precision_path_runs_on_cpu(amp, backend, capsys, tmp_path):
    """The GPU's autocast + gradient-scaler code path, exercised on the CPU (oneDNN has no
    fp16 LSTM kernel, so fp16 runs on the reference cells here; cuDNN has both)."""
    args = [
        "train",
        "--data",
        SMALL,
        "--embed",
        "16",
        "--hidden",
        "32",
        "--layers",
        "2",
        "--max-steps",
        "12",
        "--log-every",
        "4",
        "--threads",
        "1",
        "--json",
        "--backend",
        backend,
    ]
    code, out, err = run(capsys, *args, "--out", str(tmp_path / "fp32"), "--amp", "none")
    assert code == 0, err
    code, out_amp, err = run(capsys, *args, "--out", str(tmp_path / amp), "--amp", amp)
    assert code == 0, err
    full, mixed = json.loads(out)["valid"]["perplexity"], json.loads(out_amp)["valid"]["perplexity"]
    assert mixed == pytest.approx(full, rel=0.05)  # same training, lower precision
    rows = [json.loads(line) for line in (tmp_path / amp / "metrics.jsonl").open()]
    assert all(r["loss"] < 10 for r in rows if r["type"] == "train")


def test_validation_by_training_time(capsys, tmp_path):
    args = [
        "train",
        "--data",
        SMALL,
        "--embed",
        "8",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--max-steps",
        "6",
        "--log-every",
        "2",
        "--eval-minutes",
        "1e-6",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "m"),
        "--json",
    ]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "m" / "metrics.jsonl").open()]
    assert [r["step"] for r in rows if r["type"] == "valid"] == [2, 4, 6]  # at log steps only
