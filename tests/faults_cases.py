"""The fault catalogue: every bad input and fault we know of, run through the real CLI.

One table for both runners: `tests/test_faults.py` runs a fast subset of it,
`bench/faults.py` all of it (and prints the table in docs/results/faults.txt).

Each case runs `python -m seqlm ...` in a fresh workspace and gives one row: the case, the
exit code, the first line of stderr, whether a traceback appeared, whatever was left
half-written (temporary files), and whether the outcome is right: exit 2 with exactly one
line for bad input, or the correct result where the input is fine. The fault rows (kill -9,
SIGTERM, two runs on one directory) also check that the resumed model is identical to an
uninterrupted run's.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conftest import SMALL_2K, TINY_RUN

TEXT = "the cat sat on the mat\nthe dog sat on the log\n" * 20


@dataclass
class Case:
    name: str
    argv: list[str]
    setup: Callable[[Path], None] | None = None
    ok: bool = False  # the input is fine: exit 0 and `check` holds
    check: Callable[[Path, str], bool] | None = None
    env: dict = field(default_factory=dict)


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def corpus_dir(root: Path, name: str = "c", **files: str | bytes) -> None:
    for split in ("train", "valid", "test"):
        write(root / name / f"{split}.txt", files.get(split, TEXT))


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def arpa_text() -> str:
    return (
        "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1.0\t<s>\t-0.3\n-0.5\ta\t-0.2\n"
        "-0.6\tb\n-0.7\t</s>\n\n\\2-grams:\n-0.2\t<s> a\n-0.3\ta b\n\n\\end\\\n"
    )


def cases(models: Path) -> list[Case]:
    lstm, ng = str(models / "lstm"), str(models / "ng")
    c: list[Case] = []
    add = c.append
    # -- corpora -------------------------------------------------------------------------
    stats = ["data", "stats"]
    add(Case("data: missing path", [*stats, "nope"]))
    add(Case("data: empty file", [*stats, "e.txt"], lambda w: write(w / "e.txt", "")))
    add(
        Case(
            "data: binary file",
            [*stats, "b.txt"],
            lambda w: write(w / "b.txt", bytes(range(256)) * 40),
        )
    )
    add(
        Case(
            "data: not UTF-8",
            [*stats, "l.txt"],
            lambda w: write(w / "l.txt", "caf\xe9 ol\xe9\n".encode("latin-1") * 50),
        )
    )
    add(
        Case(
            "data: dir missing valid.txt",
            [*stats, "d"],
            lambda w: (write(w / "d/train.txt", TEXT), write(w / "d/test.txt", TEXT)),
        )
    )
    add(
        Case(
            "data: whitespace-only corpus",
            [*stats, "s.txt"],
            lambda w: write(w / "s.txt", " \n\t\n" * 100),
        )
    )
    add(Case("data: only newlines", [*stats, "n.txt"], lambda w: write(w / "n.txt", "\n" * 500)))
    add(
        Case(
            "data: UTF-8 BOM is not a word",
            [*stats, "c", "--json"],
            lambda w: corpus_dir(w, train="\ufeff" + TEXT),
            ok=True,
            check=lambda w, out: json.loads(out)["vocab_size"] == 9,
        )
    )
    add(Case("data: unknown dataset", [*stats, "ptbb"]))
    add(Case("data: synthetic unknown key", [*stats, "synthetic:foo=1"]))
    add(Case("data: synthetic bad value", [*stats, "synthetic:max_modifiers=x"]))
    add(Case("data: synthetic NaN", [*stats, "synthetic:modifier_p=nan"]))
    add(Case("data: synthetic huge", [*stats, "synthetic:max_modifiers=100000000"]))
    add(
        Case(
            "data: two split fractions",
            [*stats, "t.txt", "--split-fractions", "0.5,0.5"],
            lambda w: write(w / "t.txt", TEXT),
        )
    )
    add(
        Case(
            "data: NaN split fraction",
            [*stats, "t.txt", "--split-fractions", "nan,0.5,0.5"],
            lambda w: write(w / "t.txt", TEXT),
        )
    )
    add(
        Case(
            "data: text split fractions",
            [*stats, "t.txt", "--split-fractions", "a,b,c"],
            lambda w: write(w / "t.txt", TEXT),
        )
    )
    add(Case("data: --min-count 0", [*stats, SMALL_2K, "--min-count", "0"]))
    add(Case("data: --max-vocab 0", [*stats, SMALL_2K, "--max-vocab", "0"]))
    add(Case("data: --max-vocab -5", [*stats, SMALL_2K, "--max-vocab", "-5"]))
    add(Case("data: --level bogus", [*stats, SMALL_2K, "--level", "bogus"]))
    add(Case("data: empty corpus name", [*stats, ""]))
    add(
        Case(
            "data: a directory as a split",
            [*stats, "c"],
            lambda w: (corpus_dir(w), os.remove(w / "c/test.txt"), (w / "c/test.txt").mkdir()),
        )
    )
    add(
        Case(
            "data: one 1 MB line",
            [*stats, "long.txt", "--json"],
            lambda w: write(w / "long.txt", "a b " * 250_000 + "\n" + TEXT),
            ok=True,
        )
    )
    for damage in ("rewritten", "zeroed", "shortened", "out of range", "negative"):
        add(
            Case(
                f"cache: ids {damage}",
                [*stats, SMALL_2K, "--json"],
                lambda w, d=damage: damage_cache(w, d),
                ok=True,
                check=same_stats,
            )
        )
    add(
        Case(
            "cache: vocab.json edited",
            [*stats, SMALL_2K, "--json"],
            lambda w: damage_cache(w, "vocab"),
            ok=True,
            check=same_stats,
        )
    )
    # -- n-grams --------------------------------------------------------------------------
    ngt = ["ngram", "train", SMALL_2K]
    add(Case("ngram: --order 0", [*ngt, "--order", "0", "--out", "o"]))
    add(Case("ngram: --order 11", [*ngt, "--order", "11", "--out", "o"]))
    add(Case("ngram: --smoothing foo", [*ngt, "--smoothing", "foo", "--out", "o"]))
    for k in ("0", "-1", "nan"):
        add(Case(f"ngram: add-k --k {k}", [*ngt, "--smoothing", "add-k", "--k", k, "--out", "o"]))
    add(Case("ngram: --out is a file", [*ngt, "--out", "f"], lambda w: write(w / "f", "x")))
    add(
        Case(
            "ngram: ml is infinite, said plainly",
            [*ngt, "--smoothing", "ml", "--order", "3", "--out", "o"],
            ok=True,
            check=lambda w, out: "inf" in out,
        )
    )
    # -- ARPA files -----------------------------------------------------------------------
    add(
        Case(
            "arpa: fine",
            ["eval", "m.arpa", "--data", "c"],
            lambda w: (
                write(w / "m.arpa", arpa_text()),
                corpus_dir(w, train="a b\n" * 30, valid="a b\n" * 3, test="a b\n" * 3),
            ),
            ok=True,
        )
    )
    add(
        Case(
            "arpa: truncated",
            ["eval", "m.arpa", "--data", SMALL_2K],
            lambda w: write(w / "m.arpa", arpa_text()[:80]),
        )
    )
    add(
        Case(
            "arpa: header 2=0, 2-grams present",
            ["eval", "m.arpa", "--data", SMALL_2K],
            lambda w: write(w / "m.arpa", arpa_text().replace("ngram 2=2", "ngram 2=0")),
        )
    )
    add(
        Case(
            "arpa: positive log10 probability",
            ["eval", "m.arpa", "--data", SMALL_2K],
            lambda w: write(w / "m.arpa", arpa_text().replace("-0.5\ta", "0.5\ta")),
        )
    )
    add(
        Case(
            "arpa: garbage",
            ["eval", "m.arpa", "--data", SMALL_2K],
            lambda w: write(w / "m.arpa", "hello\nworld\n"),
        )
    )
    add(
        Case(
            "arpa: gzip CRC mismatch",
            ["eval", "m.arpa.gz", "--data", SMALL_2K],
            lambda w: write(w / "m.arpa.gz", bad_crc(arpa_text())),
        )
    )
    add(
        Case(
            "arpa: truncated gzip",
            ["eval", "m.arpa.gz", "--data", SMALL_2K],
            lambda w: write(w / "m.arpa.gz", gzip.compress(arpa_text().encode())[:-12]),
        )
    )
    add(
        Case(
            "arpa: NaN probability",
            ["eval", "m.arpa", "--data", SMALL_2K],
            lambda w: write(w / "m.arpa", arpa_text().replace("-0.5\ta", "nan\ta")),
        )
    )
    # -- saved models ---------------------------------------------------------------------
    add(Case("eval: missing model", ["eval", "nope"]))
    add(Case("eval: directory without config.json", ["eval", "d"], lambda w: (w / "d").mkdir()))
    add(
        Case(
            "eval: corrupt config.json",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), write(w / "m/config.json", "{not json")),
        )
    )
    add(
        Case(
            "eval: config.json wrong type",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), set_model(w / "m", hidden="32")),
        )
    )
    add(
        Case(
            "eval: config.json from the future",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), edit_json(w / "m/config.json", format_version=99)),
        )
    )
    add(
        Case(
            "eval: truncated weights",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), truncate(w / "m/model.safetensors")),
        )
    )
    add(
        Case(
            "eval: corrupt vocab.json",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), write(w / "m/vocab.json", "[1, 2")),
        )
    )
    add(
        Case(
            "eval: vocabulary size mismatch",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), set_model(w / "m", vocab_size=7)),
        )
    )
    add(Case("eval: --split foo", ["eval", lstm, "--split", "foo"]))
    add(Case("eval: --data missing", ["eval", lstm, "--data", "nope"]))
    add(Case("eval: a trained model", ["eval", lstm, "--json"], ok=True))
    # -- training settings ----------------------------------------------------------------
    tr = ["train", *TINY_RUN, "--out", "run"]
    for flag, value in [
        ("--lr", "-1"),
        ("--lr", "nan"),
        ("--clip", "-1"),
        ("--clip", "nan"),
        ("--momentum", "-1"),
        ("--momentum", "1"),
        ("--weight-decay", "-0.1"),
        ("--lr-decay", "0"),
        ("--max-steps", "-1"),
        ("--patience", "-1"),
        ("--device", "foo"),
        ("--batch-size", "0"),
        ("--bptt", "0"),
        ("--hidden", "0"),
        ("--dropout", "1.0"),
        ("--adaptive-cutoffs", "20,10"),
        ("--adaptive-cutoffs", "x"),
        ("--max-minutes", "inf"),
        ("--eval-streams", "0"),
        ("--forget-bias", "nan"),
        ("--batch-size", "20000"),
        ("--preset", "nope"),
        ("--cell", "lsmt"),
    ]:
        add(Case(f"train: {flag} {value}", [*tr, flag, value]))
    add(Case("train: --config missing", [*tr, "--config", "nope.toml"]))
    add(
        Case(
            "train: --config syntax error",
            [*tr, "--config", "c.toml"],
            lambda w: write(w / "c.toml", "hidden = ["),
        )
    )
    add(
        Case(
            "train: --config wrong type",
            [*tr, "--config", "c.toml"],
            lambda w: write(w / "c.toml", 'hidden = "32"'),
        )
    )
    add(
        Case(
            "train: --config unknown key",
            [*tr, "--config", "c.toml"],
            lambda w: write(w / "c.toml", "hiden = 32"),
        )
    )
    add(Case("train: --config is a directory", [*tr, "--config", "d"], lambda w: (w / "d").mkdir()))
    add(Case("train: --resume missing", ["train", "--resume", "nope"]))
    add(Case("train: --resume an n-gram", ["train", "--resume", ng]))
    add(
        Case(
            "train: --resume changing --hidden",
            ["train", "--resume", "m", "--hidden", "8"],
            lambda w: copy_model(lstm, w),
        )
    )
    add(
        Case(
            "train: --out is a file",
            ["train", *TINY_RUN, "--out", "f"],
            lambda w: write(w / "f", "x"),
        )
    )
    add(
        Case(
            "train: --out holds a finished run",
            ["train", *TINY_RUN, "--out", "m"],
            lambda w: copy_model(lstm, w),
        )
    )
    add(Case("train: no --data", ["train", "--out", "x"]))
    # -- generation, export, probes -------------------------------------------------------
    gen = ["generate", lstm, "--max-tokens", "5"]
    for flag, value in [
        ("--temperature", "nan"),
        ("--temperature", "-1"),
        ("--seed", "-1"),
        ("--top-k", "0"),
        ("--top-p", "0"),
        ("--top-p", "2"),
        ("--max-tokens", "-1"),
        ("--precision", "fp8"),
    ]:
        add(Case(f"generate: {flag} {value}", [*gen, flag, value]))
    add(
        Case(
            "generate: out-of-vocabulary prompt warns",
            [*gen, "--prompt", "zebra quux", "--seed", "1"],
            ok=True,
        )
    )
    add(
        Case(
            "generate: NaN weights",
            ["generate", "m", "--max-tokens", "3"],
            lambda w: (copy_model(lstm, w), nan_weights(w / "m")),
        )
    )
    add(Case("generate: bf16 on an n-gram", ["generate", ng, "--precision", "bf16"]))
    add(
        Case(
            "export: --out is a directory",
            ["export", lstm, "--format", "torchscript", "--out", "d"],
            lambda w: (w / "d").mkdir(),
        )
    )
    add(
        Case(
            "export: --out parent missing",
            ["export", lstm, "--format", "torchscript", "--out", "no/such/m.pt"],
        )
    )
    add(
        Case(
            "export: arpa of a neural model",
            ["export", lstm, "--format", "arpa", "--out", "m.arpa"],
        )
    )
    add(
        Case(
            "export: torchscript",
            ["export", lstm, "--format", "torchscript", "--out", "m.pt"],
            ok=True,
        )
    )
    add(Case("probe: gates on an n-gram", ["probe", "gates", ng]))
    add(Case("probe: gradients on an n-gram", ["probe", "gradients", ng]))
    add(Case("probe: memory --cell lsmt", ["probe", "memory", "--cell", "lsmt"]))
    add(Case("probe: memory --lengths 10,x", ["probe", "memory", "--lengths", "10,x"]))
    add(Case("probe: context --data missing", ["probe", "context", lstm, "--data", "nope"]))
    add(Case("compare: bad model spec", ["compare", SMALL_2K, "--models", "ngram:x"]))
    add(Case("compare: bad budget", ["compare", SMALL_2K, "--budget", "soon"]))
    add(
        Case(
            "compare: --report is a file",
            ["compare", SMALL_2K, "--models", "ngram:2", "--report", "f"],
            lambda w: write(w / "f", "x"),
        )
    )
    return c


# -- damage helpers ------------------------------------------------------------------------
def cache_entry(work: Path) -> Path:
    """Build the cache entry of SMALL_2K in `work`, and note the right figures."""
    done = subprocess.run(
        [sys.executable, "-m", "seqlm", "data", "stats", SMALL_2K, "--json"],
        env=env_for(work),
        capture_output=True,
        text=True,
        check=True,
    )
    (work / "expected.json").write_text(done.stdout)
    return next((work / "cache" / "corpora").glob("*/train.npy")).parent


def damage_cache(work: Path, how: str) -> None:
    import numpy as np

    folder = cache_entry(work)
    if how == "vocab":
        data = json.loads((folder / "vocab.json").read_text())
        data["tokens"] = list(reversed(data["tokens"]))
        (folder / "vocab.json").write_text(json.dumps(data))
        return
    ids = np.load(folder / "train.npy")
    ids = {
        "rewritten": np.roll(ids, 1),
        "zeroed": np.zeros_like(ids),
        "shortened": ids[:10],
        "out of range": ids + 100_000,
        "negative": -ids - 1,
    }[how]
    np.save(folder / "train.npy", ids)


def same_stats(work: Path, out: str) -> bool:
    return json.loads(out) == json.loads((work / "expected.json").read_text())


def bad_crc(text: str) -> bytes:
    data = bytearray(gzip.compress(text.encode()))
    data[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    return bytes(data)


def copy_model(path: str, work: Path) -> None:
    shutil.copytree(path, work / "m")


def set_model(directory: Path, **changes) -> None:
    config = json.loads((directory / "config.json").read_text())
    config["model"].update(changes)
    (directory / "config.json").write_text(json.dumps(config))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def nan_weights(directory: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(directory / "model.safetensors"))
    tensors = {k: v * float("nan") for k, v in tensors.items()}
    save_file(tensors, str(directory / "model.safetensors"))


# -- running -------------------------------------------------------------------------------
def env_for(work: Path, extra: dict | None = None) -> dict:
    return {**os.environ, "SEQLM_CACHE": str(work / "cache"), **(extra or {})}


def leftovers(work: Path) -> list[str]:
    return sorted(
        str(p.relative_to(work))
        for p in work.rglob("*")
        if p.name.endswith(".tmp") or p.name.startswith(".tmp-")
    )


def run_case(case: Case, root: Path) -> dict:
    work = Path(tempfile.mkdtemp(dir=root))
    if case.setup:
        case.setup(work)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "seqlm", *case.argv],
        cwd=work,
        text=True,
        capture_output=True,
        env=env_for(work, case.env),
        timeout=600,
    )
    err = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in err if "error" in line]
    row = {
        "case": case.name,
        "code": done.returncode,
        "line": (errors or err or [""])[0][:110],
        "traceback": "Traceback" in done.stderr,
        "left": leftovers(work),
        "seconds": round(time.perf_counter() - start, 1),
    }
    if case.ok:
        right = done.returncode == 0 and (case.check is None or case.check(work, done.stdout))
    else:
        right = done.returncode == 2 and len(errors) == 1 and len(err) <= 2
    row["right"] = bool(right and not row["traceback"] and not row["left"])
    return row


# -- faults during a run -------------------------------------------------------------------
# (name, signal, training step at which it is sent): the run is resumed afterwards
SIGNAL_FAULTS = [
    ("fault: kill -9 at step 35, resume", signal.SIGKILL, 35),
    ("fault: kill -9 at step 3, resume", signal.SIGKILL, 3),
    ("fault: SIGTERM at step 25, resume", signal.SIGTERM, 25),
]


def build_models(models: Path) -> None:
    """What the cases read: an LSTM of 20 steps, the uninterrupted TINY_RUN (the
    reference of the fault rows) and a trigram model."""
    for out, argv in [
        ("lstm", ["train", *TINY_RUN, "--max-steps", "20"]),
        ("ref", ["train", *TINY_RUN]),
        ("ng", ["ngram", "train", SMALL_2K, "--order", "3"]),
    ]:
        subprocess.run(
            [sys.executable, "-m", "seqlm", *argv, "--out", str(models / out)],
            env=env_for(models),
            check=True,
            capture_output=True,
        )


def signal_fault(root: Path, reference: bytes, name: str, sig: int, at: int) -> dict:
    """Send `sig` to a TINY_RUN once it has checkpointed step `at`, then resume it: right if
    the resumed model is byte-identical to the uninterrupted run's (`reference`)."""
    work = Path(tempfile.mkdtemp(dir=root))
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlm", "train", *TINY_RUN, "--out", "run"],
        cwd=work,
        env=env_for(work),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads((work / "run/trainer.json").read_text())["step"] >= at:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    resumed = subprocess.run(
        [sys.executable, "-m", "seqlm", "train", "--resume", "run"],
        cwd=work,
        env=env_for(work),
        capture_output=True,
        text=True,
    )
    same = (work / "run/model.safetensors").read_bytes() == reference
    return {
        "case": name,
        "code": resumed.returncode,
        "line": f"killed with exit {proc.returncode}, resumed with {resumed.returncode}",
        "traceback": "Traceback" in err + resumed.stderr,
        "left": leftovers(work),
        "seconds": 0,
        "right": same and resumed.returncode == 0,
    }


def two_runs(root: Path) -> dict:
    """A second run on a directory another run is training in: refused, naming the holder."""
    work = Path(tempfile.mkdtemp(dir=root))
    slow = [*TINY_RUN, "--max-steps", "100000", "--epochs", "1000"]
    first = subprocess.Popen(
        [sys.executable, "-m", "seqlm", "train", *slow, "--out", "run"],
        cwd=work,
        env=env_for(work),
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    while not (work / "run/trainer.json").exists() and first.poll() is None:
        time.sleep(0.05)
    second = subprocess.run(
        [sys.executable, "-m", "seqlm", "train", *TINY_RUN, "--out", "run"],
        cwd=work,
        env=env_for(work),
        capture_output=True,
        text=True,
    )
    first.send_signal(signal.SIGTERM)
    first.wait()
    line = second.stderr.strip().splitlines()[0] if second.stderr.strip() else ""
    return {
        "case": "fault: two runs on one directory",
        "code": second.returncode,
        "line": line[:110],
        "traceback": "Traceback" in second.stderr,
        "left": [],
        "seconds": 0,
        "right": second.returncode == 2 and "locked by PID" in line,
    }


def fault_rows(root: Path, models: Path) -> list[dict]:
    """kill -9 and SIGTERM mid-run, two runs on one directory: identical final models."""
    reference = (models / "ref" / "model.safetensors").read_bytes()
    rows = [signal_fault(root, reference, *fault) for fault in SIGNAL_FAULTS]
    return [*rows, two_runs(root)]


def format_rows(rows: list[dict]) -> str:
    """The table and its summary line, as in docs/results/faults.txt."""
    lines = [f"{'case':<44} {'exit':>4}  {'tb':<3} {'left':<5} {'right':<5} message"]
    for r in rows:
        lines.append(
            f"{r['case'][:44]:<44} {r['code']:>4}  {'yes' if r['traceback'] else 'no':<3} "
            f"{len(r['left']) or '-':<5} {'yes' if r['right'] else 'NO':<5} {r['line']}"
        )
    right = sum(r["right"] for r in rows)
    tracebacks = sum(r["traceback"] for r in rows)
    left = sum(bool(r["left"]) for r in rows)
    lines.append(
        f"\n{len(rows)} cases: {right} right ({right / len(rows):.0%}), {tracebacks} tracebacks, "
        f"{left} left something half-written"
    )
    return "\n".join(lines)
