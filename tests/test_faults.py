"""Faults during training: kill -9 inside a checkpoint or the corpus cache build, SIGTERM,
two runs on one directory, NaN between log steps. The run always ends as an
uninterrupted one would, and a directory is never left in a state no command accepts.
Also a fast subset of the fault catalogue (tests/faults_cases.py; bench/faults.py runs
all of it)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import MINI
from conftest import TINY_RUN as TINY
from faults_cases import SIGNAL_FAULTS, cases, run_case, signal_fault

from seqlm.cli import main

# Runs the CLI with os.replace/os.rename patched to SIGKILL the process at the N-th rename
# whose target contains PATTERN: after the temporary file is complete, before it lands.
KILLER = textwrap.dedent("""
    import os, signal, sys
    pattern, nth, calls = sys.argv[1], int(sys.argv[2]), [0]
    def patch(name):
        original = getattr(os, name)
        def renamed(src, dst, *a, **k):
            if pattern in str(dst):
                calls[0] += 1
                if calls[0] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)
            return original(src, dst, *a, **k)
        setattr(os, name, renamed)
    patch("replace"); patch("rename")
    from seqlm.cli import main
    sys.exit(main(sys.argv[3:]))
""")


def cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def killed_at(pattern: str, nth: int, *argv: str, env: dict | None = None) -> int:
    done = subprocess.run(
        [sys.executable, "-c", KILLER, pattern, str(nth), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    return done.returncode


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(["train", *TINY, "--out", str(out), "--json"]) == 0
    return (out / "model.safetensors").read_bytes(), trainer_tensors(out)


def trainer_tensors(run_dir) -> dict:
    """The resumable state (weights, optimizer, hidden state, RNG), without the wall times
    its metadata records."""
    from seqlm.nn.checkpoint import load_tensors

    return {
        k: v.numpy().tobytes() for k, v in load_tensors(run_dir / "trainer.safetensors").items()
    }


def steps_logged(run_dir) -> list[int]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if r["type"] == "train"]


@pytest.mark.parametrize(
    "pattern, nth",
    [
        ("trainer.safetensors", 1),
        ("config.json", 1),
        ("trainer.safetensors", 3),
        ("model.safetensors", 2),
    ],
)
def test_kill_inside_a_checkpoint_then_resume_is_byte_identical(
    capsys, tmp_path, reference, pattern, nth
):
    run_dir = tmp_path / "run"
    assert killed_at(pattern, nth, "train", *TINY, "--out", str(run_dir)) == -signal.SIGKILL
    assert (run_dir / "config.json").exists() or pattern == "config.json"
    leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers  # the kill left a temporary behind ...
    if (run_dir / "config.json").exists():
        code, _, err = cli(capsys, "train", "--resume", str(run_dir), "--json")
    else:  # killed before the claim completed: the same --out starts it again
        code, _, err = cli(capsys, "train", *TINY, "--out", str(run_dir), "--json")
    assert code == 0, err
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]  # ... swept on start
    assert (run_dir / "model.safetensors").read_bytes() == reference[0]
    assert trainer_tensors(run_dir) == reference[1]
    assert steps_logged(run_dir) == sorted(set(steps_logged(run_dir)))  # no repeated rows


def test_kill_inside_the_corpus_cache_build(capsys, tmp_path, reference):
    env = {"SEQLM_CACHE": str(tmp_path / "cache")}
    code = killed_at("corpora", 1, "train", *TINY, "--out", str(tmp_path / "run"), env=env)
    assert code == -signal.SIGKILL
    os.environ["SEQLM_CACHE"], saved = env["SEQLM_CACHE"], os.environ["SEQLM_CACHE"]
    try:
        code, _, err = cli(capsys, "train", *TINY, "--out", str(tmp_path / "run"), "--json")
    finally:
        os.environ["SEQLM_CACHE"] = saved
    assert code == 0, err
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == reference[0]


def test_a_second_run_on_a_locked_directory_is_refused(capsys, tmp_path):
    run_dir = tmp_path / "run"
    slow = [*TINY, "--max-steps", "100000", "--epochs", "1000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlm", "train", *slow, "--out", str(run_dir), "--json"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not (run_dir / "trainer.json").exists() and time.time() < deadline:
            time.sleep(0.05)
        code, _, err = cli(capsys, "train", "--resume", str(run_dir), "--json")
        assert code == 2 and f"locked by PID {proc.pid}" in err and err.count("\n") == 1
        code, _, err = cli(capsys, "train", *TINY, "--out", str(run_dir), "--json")
        assert code == 2 and "locked by PID" in err
    finally:
        proc.send_signal(signal.SIGTERM)  # saves and stops, like Ctrl-C
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    step = json.loads((run_dir / "trainer.json").read_text())["step"]
    code, out, _ = cli(
        capsys, "train", "--resume", str(run_dir), "--max-steps", str(step + 3), "--json"
    )
    assert code == 0 and json.loads(out)["steps"] == step + 3


def test_nan_between_log_steps_never_reaches_a_checkpoint(capsys, tmp_path, monkeypatch):
    from seqlm.nn.recurrent import RecurrentLM

    original, calls = RecurrentLM.loss, {"n": 0}

    def poisoned(self, inputs, targets, state=None):
        loss, state = original(self, inputs, targets, state)
        calls["n"] += self.training
        return (loss * float("nan") if calls["n"] == 13 else loss), state

    monkeypatch.setattr(RecurrentLM, "loss", poisoned)
    run_dir = tmp_path / "nan"
    code, _, err = cli(
        capsys,
        "train",
        *TINY,
        "--out",
        str(run_dir),
        "--log-every",
        "1000",
        "--checkpoint-every",
        "3",
        "--optimizer",
        "sgd",
    )
    assert code == 2 and "loss became nan" in err and "checkpoint" in err
    from seqlm.nn.checkpoint import load_tensors

    for name in ("trainer.safetensors", "model.safetensors"):
        tensors = load_tensors(run_dir / name)
        assert all(bool(t.float().isfinite().all()) for t in tensors.values()), name
    monkeypatch.setattr(RecurrentLM, "loss", original)
    code, out, _ = cli(capsys, "train", "--resume", str(run_dir), "--max-steps", "15", "--json")
    assert code == 0 and json.loads(out)["steps"] == 15


# one or two of each kind in the catalogue: those that need no trained model
FAST_CASES = [
    "data: not UTF-8",
    "data: synthetic NaN",
    "data: two split fractions",
    "cache: ids out of range",
    "ngram: --order 0",
    "arpa: gzip CRC mismatch",
    "train: --lr nan",
    "train: --config unknown key",
    "train: --resume missing",
    "compare: bad budget",
    "overwrite: --overwrite into a folder of files",
]


def test_the_catalogue_names_each_case_once(tmp_path):
    names = [case.name for case in cases(tmp_path)]
    assert len(names) == len(set(names)) and set(FAST_CASES) <= set(names)


@pytest.mark.parametrize("name", FAST_CASES)
def test_a_case_of_the_fault_catalogue(tmp_path, name):
    (case,) = [case for case in cases(tmp_path / "models") if case.name == name]
    row = run_case(case, tmp_path)
    assert row["right"], row


def test_a_signal_fault_of_the_catalogue(tmp_path, reference):
    row = signal_fault(tmp_path, reference[0], *SIGNAL_FAULTS[0])
    assert row["right"] and not row["traceback"] and not row["left"], row


# options out of range: refused in one line, before any work (in-process, so fast)
LIMITS = [
    ["train", *TINY, "--out", "run", "--seed", str(2**80)],
    ["train", *TINY, "--out", "run", "--threads", "100000"],
    ["train", *TINY, "--out", "run", "--layers", "1000000"],
    ["train", *TINY, "--out", "run", "--max-minutes", "nan"],
    ["train", *TINY, "--out", "run", "--layers", "60", "--hidden", "65000"],
    ["ngram", "train", MINI, "--out", "o", "--memory", "1P"],
    ["ngram", "train", MINI, "--out", "o", "--memory", "1e100"],
    ["ngram", "train", MINI, "--out", "o", "--memory", "nan"],
    ["ngram", "train", MINI, "--out", "o", "--workers", "0"],
    ["ngram", "train", MINI, "--out", "o", "--tmp", "no/such/dir"],
    ["data", "stats", MINI, "--min-count", "1000000"],
    ["probe", "memory", "--steps", "-1"],
    ["probe", "forget-bias", "--steps", "-1"],
    ["probe", "memory", "--lengths", "0"],
    ["probe", "gradients", "fresh:lstm", "--data", MINI, "--distance", "-1"],
    ["probe", "context", "fresh:lstm", "--data", MINI, "--shuffle-beyond", "-1"],
    ["probe", "gates", "fresh:lstm", "--data", MINI, "--tokens", "-5"],
    ["serve", "nope", "--port", "70000"],
    ["serve", "nope", "--threads", "100000"],
    ["serve", "nope", "--allow-host", "a*b"],
    ["generate", "nope", "--seed", str(2**80)],
]


@pytest.mark.parametrize("argv", LIMITS, ids=lambda a: " ".join(a[-2:]))
def test_an_option_out_of_range_is_one_line(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and "error" in err, err
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_a_closed_pipe_ends_quietly(capsys, monkeypatch):
    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["data", "stats", MINI, "--json"]) == 141
    assert capsys.readouterr().err == ""


def test_the_server_refuses_a_lone_surrogate_and_foreign_hosts():
    pytest.importorskip("fastapi")
    import socket

    from pydantic import ValidationError

    from seqlm.io import SeqlmError
    from seqlm.serve import allowed_hosts, listen
    from seqlm.serve.schemas import ScoreRequest

    with pytest.raises(ValidationError, match="lone surrogate"):
        ScoreRequest.model_validate(json.loads('{"text": "\\ud800 the"}'))  # as FastAPI reads it
    assert (
        ScoreRequest.model_validate(json.loads('{"text": "\\ud83d\\ude00"}')).text == "\U0001f600"
    )
    assert {"127.0.0.1", "localhost"} <= set(allowed_hosts("127.0.0.1"))
    assert allowed_hosts("10.0.0.5", ["lm.example"]) == ["10.0.0.5", "lm.example"]
    held = socket.create_server(("127.0.0.1", 0))
    with held, pytest.raises(SeqlmError, match="address already in use"):
        listen("127.0.0.1", held.getsockname()[1])
