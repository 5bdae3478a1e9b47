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
import stat
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
    command: list[str] | None = None  # python's arguments instead of `-m seqlm *argv`
    one_line: bool = False  # bad input: stderr is exactly the one error line


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
    c += integrity_cases(lstm, ng)
    c += limit_cases(lstm, ng)
    c += write_cases(lstm, ng)
    return c


# -- integrity of model directories (manifest, invariants) and corpus paths ---------------
def integrity_cases(lstm: str, ng: str) -> list[Case]:
    """Corrupt n-gram and LSTM directories: each refused in one line, naming the file."""
    c: list[Case] = []
    ngram_damage = {
        "200 bytes of probabilities": ("ngram2.prob.npy", 0, bytes(range(200))),
        "64 bytes of keys set to 0xff": ("ngram2.keys.npy", 64, b"\xff" * 64),
        "80 bytes of backoffs": ("ngram1.backoff.npy", 0, b"\x01" * 80),
        "16 bytes of a fence": ("ngram3.fence.npy", 0, b"\x00" * 16),
    }
    for what, (file, offset, data) in ngram_damage.items():
        c.append(
            Case(
                f"integrity: ngram {what}",
                ["eval", "m"],
                lambda w, f=file, o=offset, d=data: (
                    copy_model(ng, w),
                    overwrite_npy(w / "m" / f, o, d),
                ),
            )
        )
    c.append(
        Case(
            "integrity: ngram keys reversed, manifest redone",
            ["eval", "m"],
            lambda w: (copy_model(ng, w), reverse_keys(w / "m", 3), remanifest(w / "m")),
        )
    )
    for what, change in [
        ("wrong counts", {"ngrams": [1, 2, 3]}),
        ("wrong base", {"base": 7}),
        ("format_version string", {"format_version": "2"}),
        ("kind transformer", {"kind": "transformer"}),
    ]:
        c.append(
            Case(
                f"integrity: config.json {what}",
                ["eval", "m"],
                lambda w, ch=change: (
                    copy_model(ng, w),
                    edit_json(w / "m/config.json", **ch),
                    remanifest(w / "m"),
                ),
            )
        )
    c.append(
        Case(
            "integrity: config.json nested 100,000 deep",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), write(w / "m/config.json", "[" * 100_000)),
        )
    )
    c.append(
        Case(
            "integrity: NaN LSTM weights, manifest redone",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), nan_weights(w / "m"), remanifest(w / "m")),
        )
    )
    c.append(
        Case(
            "integrity: 16 bytes of LSTM weights",
            ["eval", "m"],
            lambda w: (copy_model(lstm, w), overwrite_tail(w / "m/model.safetensors", 16)),
        )
    )
    c.append(
        Case(
            "integrity: a truncated file (serve)",
            ["serve", "m", "--port", "8"],
            lambda w: (copy_model(ng, w), truncate(w / "m/ngram2.keys.npy")),
        )
    )
    c.append(Case("integrity: verify an intact model", ["verify", ng], ok=True))
    c.append(
        Case(
            "integrity: verify a corrupt model",
            ["verify", "m"],
            lambda w: (copy_model(ng, w), overwrite_npy(w / "m/ngram1.prob.npy", 0, b"\0" * 8)),
        )
    )
    c.append(
        Case(
            "corpus path: eval from another directory",
            ["eval", "a/m", "--json"],
            trained_elsewhere,
            ok=True,
        )
    )
    return c


def overwrite_npy(path: Path, offset: int, data: bytes) -> None:
    import numpy as np

    raw = bytearray(path.read_bytes())
    start = len(raw) - np.load(path, mmap_mode="r").nbytes + offset
    raw[start : start + len(data)] = data
    path.write_bytes(bytes(raw))


def overwrite_tail(path: Path, count: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[-count:] = bytes(b ^ 0x5A for b in raw[-count:])
    path.write_bytes(bytes(raw))


def reverse_keys(directory: Path, order: int) -> None:
    import numpy as np

    path = directory / f"ngram{order}.keys.npy"
    np.save(path, np.load(path)[::-1].copy())


def remanifest(directory: Path) -> None:
    """Redo the manifest after a change, so that only the invariants can catch it."""
    from seqlm.manifest import write_manifest

    write_manifest(directory)


def trained_elsewhere(work: Path) -> None:
    """An n-gram trained in work/a on a relative --data fx/corp, evaluated from work."""
    corpus_dir(work / "a/fx", "corp")
    subprocess.run(
        [sys.executable, "-m", "seqlm", "ngram", "train", "fx/corp", "--order", "2", "--out", "m"],
        cwd=work / "a",
        env=env_for(work),
        check=True,
        capture_output=True,
    )


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
        [sys.executable, *(case.command or ["-m", "seqlm", *case.argv])],
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
        right = done.returncode == 2 and len(errors) == 1 and len(err) <= 2 - case.one_line
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
    return [*rows, two_runs(root), spill_kill(root)]


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


# -- limits: every option's range, the CLI boundary, the server's input and Host ---------
# Scripts for the rows that are not one `seqlm` command: python -c SCRIPT ARGS...
SERVER_SCRIPT = """
import http.client, json, socket, subprocess, sys, time
model, mode = sys.argv[1], sys.argv[2]
probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]; probe.close()
server = subprocess.Popen([sys.executable, "-m", "seqlm", "serve", model, "--port", str(port),
                           "--index-tokens", "0"], stderr=subprocess.PIPE, text=True)
def ask(path, body=None, host=f"127.0.0.1:{port}"):
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST" if body else "GET", path, body=body,
                      headers={"Host": host, "Content-Type": "application/json"})
            r = c.getresponse(); r.read(); return r.status
        except ConnectionRefusedError:
            time.sleep(0.1)
try:
    if mode == "host":
        codes = [ask("/models"), ask("/models", host=f"localhost:{port}"),
                 ask("/models", host="evil.example"), ask("/models", host=f"evil.example:{port}")]
    else:
        codes = [ask("/score", b'{"text": "\\\\ud800 the"}'), ask("/score", b'{"text": "the"}')]
finally:
    server.terminate(); _, err = server.communicate(timeout=60)
sys.stderr.write(err)
print(json.dumps(codes))
"""
PIPE_SCRIPT = """
import json, subprocess, sys
p = subprocess.Popen([sys.executable, "-m", "seqlm", *sys.argv[1:]], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
p.stdout.read(16); p.stdout.close()
err = p.stderr.read().decode(); p.wait(timeout=120)
sys.stderr.write(err)
print(json.dumps({"code": p.returncode, "quiet": "error" not in err}))
"""
PORT_IN_USE = """
import socket, subprocess, sys
held = socket.create_server(("127.0.0.1", 0))
port = str(held.getsockname()[1])
sys.exit(subprocess.call([sys.executable, "-m", "seqlm", "serve", sys.argv[1], "--port", port]))
"""
NEXT_TOKENS = """
import sys
from seqlm import load
model = load(sys.argv[1])
for k in (-1, 0):
    try:
        model.next_tokens("the", k=k)
        print("accepted", k)
    except Exception as e:
        print(type(e).__name__, e)
"""


def limit_cases(lstm: str, ng: str) -> list[Case]:
    """Options out of range, refused in one line before any work (classes 7 to 9), and
    the server's own input checks (undecodable text, Host header)."""
    c: list[Case] = []

    def bad(name: str, argv: list[str], **kw) -> None:
        c.append(Case(f"limits: {name}", argv, one_line=True, **kw))

    tr = ["train", *TINY_RUN, "--out", "run"]
    for flag, value in [
        ("--seed", str(2**80)),
        ("--seed", "-1"),
        ("--max-minutes", "nan"),
        ("--threads", "100000"),
        ("--threads", "-1"),
        ("--layers", "1000000"),
        ("--hidden", "100000000"),
        ("--embed", "100000000"),
        ("--bptt", "100000000"),
        ("--mogrifier-rounds", "100000"),
    ]:
        bad(f"train {flag} {value}", [*tr, flag, value])
    bad("train: weights beyond RAM", [*tr, "--layers", "60", "--hidden", "65000"])
    bad("train: no --out names --out", ["train", "--data", SMALL_2K])
    ngt = ["ngram", "train", SMALL_2K, "--out", "o"]
    for value in ("0", "-1", "abc", "1P", "inf", "nan", "1e100", "200%", "0%"):
        bad(f"ngram --memory {value}", [*ngt, "--memory", value])
    for value in ("-1", "0", "100000"):
        bad(f"ngram --workers {value}", [*ngt, "--workers", value])
    bad("ngram --tmp missing", [*ngt, "--tmp", "no/such/dir"])
    bad("ngram --min-count 1e23", [*ngt, "--min-count", "1e23"])
    bad("ngram --min-count above the corpus", [*ngt, "--min-count", "100000000"])
    bad("data --min-count leaves no word", ["data", "stats", SMALL_2K, "--min-count", "1000000"])
    bad("ngram --order 1000000", [*ngt, "--order", "1000000"])
    for probe, flag, value, models in [
        ("memory", "--steps", "-1", []),
        ("forget-bias", "--steps", "-1", []),
        ("memory", "--steps", "0", []),
        ("memory", "--lengths", "0,10", []),
        ("memory", "--lengths", "10000000", []),
        ("memory", "--seed", str(2**80), []),
        ("memory", "--task", "sort", []),
        ("gradients", "--distance", "-1", [lstm]),
        ("gradients", "--distance", "100000000", [lstm]),
        ("gradients", "--windows", "0", [lstm]),
        ("context", "--samples", "0", [lstm]),
        ("context", "--shuffle-beyond", "-1", [lstm]),
        ("gates", "--tokens", "-5", [lstm]),
        ("dependency", "--seed", "-1", [lstm]),
    ]:
        bad(f"probe {probe} {flag} {value}", ["probe", probe, *models, flag, value])
    gen = ["generate", ng, "--max-tokens", "5"]
    bad("generate --seed 2**80", [*gen, "--seed", str(2**80)])
    srv = ["serve", ng]
    for flag, value in [
        ("--port", "-1"),
        ("--port", "70000"),
        ("--port", "http"),
        ("--threads", "100000"),
        ("--threads", "0"),
        ("--max-chars", "-1"),
        ("--allow-host", "a*b"),
        ("--host", "no.such.host.invalid"),
    ]:
        bad(f"serve {flag} {value}", [*srv, flag, value])
    bad("serve: port in use", [], command=["-c", PORT_IN_USE, ng])
    bad(
        "truncated ngram1.fence.npy",
        ["eval", "m"],
        setup=lambda w: (copy_model(ng, w), truncate(w / "m/ngram1.fence.npy")),
    )
    c.append(
        Case(
            "limits: next_tokens(k=-1), k=0 refused",
            [],
            command=["-c", NEXT_TOKENS, ng],
            ok=True,
            check=lambda w, out: "accepted" not in out and out.count("SeqlmError") == 2,
        )
    )
    c.append(
        Case(
            "limits: a closed pipe ends quietly",
            [],
            command=["-c", PIPE_SCRIPT, "generate", ng, "--max-tokens", "200000", "--seed", "1"],
            ok=True,
            check=lambda w, out: json.loads(out) == {"code": 141, "quiet": True},
        )
    )
    c.append(
        Case(
            "limits: serve answers 400 to a foreign Host",
            [],
            command=["-c", SERVER_SCRIPT, ng, "host"],
            ok=True,
            check=lambda w, out: json.loads(out) == [200, 200, 400, 400],
        )
    )
    c.append(
        Case(
            "limits: serve answers 422 to a lone surrogate",
            [],
            command=["-c", SERVER_SCRIPT, ng, "surrogate"],
            ok=True,
            check=lambda w, out: json.loads(out) == [422, 200],
        )
    )
    return c


# -- writes: models never overwritten, only regular files replaced, spill folders swept -----
def write_cases(lstm: str, ng: str) -> list[Case]:
    c: list[Case] = []
    add = c.append

    def run_and_arpa(w: Path) -> None:
        copy_model(lstm, w)
        write(w / "a.arpa", arpa_text())

    def ngram_and_arpa(w: Path) -> None:
        copy_model(ng, w)
        write(w / "a.arpa", arpa_text())

    convert = ["ngram", "convert", "a.arpa"]
    add(
        Case(
            "overwrite: ngram train over a training run",
            ["ngram", "train", SMALL_2K, "--out", "m"],
            lambda w: copy_model(lstm, w),
        )
    )
    add(Case("overwrite: ngram convert over a training run", [*convert, "m"], run_and_arpa))
    add(
        Case(
            "overwrite: train over an n-gram model",
            ["train", *TINY_RUN, "--out", "m"],
            lambda w: copy_model(ng, w),
        )
    )
    add(Case("overwrite: ngram convert twice into one dir", [*convert, "m"], ngram_and_arpa))
    add(
        Case(
            "overwrite: ngram train twice into one dir",
            ["ngram", "train", SMALL_2K, "--out", "m"],
            lambda w: copy_model(ng, w),
        )
    )
    add(
        Case(
            "overwrite: --overwrite into a folder of files",
            [*convert, "d", "--overwrite"],
            lambda w: (write(w / "a.arpa", arpa_text()), write(w / "d/notes.txt", "mine")),
        )
    )
    add(
        Case(
            "overwrite: convert --overwrite replaces a model",
            [*convert, "m", "--overwrite"],
            ngram_and_arpa,
            ok=True,
            check=lambda w, out: json.loads((w / "m/config.json").read_text())["order"] == 2,
        )
    )
    export = ["export", ng, "--format", "arpa", "--out"]

    def device(w: Path) -> None:  # a copy of /dev/full (a FIFO where devices cannot be made)
        try:
            os.mknod(w / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        except OSError:
            os.mkfifo(w / "full")

    add(Case("output: export over a device (/dev/full)", [*export, "full"], device))
    add(Case("output: export over a FIFO", [*export, "p"], lambda w: os.mkfifo(w / "p")))
    add(
        Case(
            "output: export over a symlink",
            [*export, "l.arpa"],
            lambda w: (write(w / "t.arpa", "mine"), (w / "l.arpa").symlink_to(w / "t.arpa")),
        )
    )
    add(
        Case(
            "output: export over a regular file",
            [*export, "t.arpa"],
            lambda w: write(w / "t.arpa", "old"),
            ok=True,
            check=lambda w, out: (w / "t.arpa").read_text().startswith("\\data\\"),
        )
    )
    return c


def spill_kill(root: Path) -> dict:
    """kill -9 of an `ngram train` that spills (a tiny --memory), then another: right if the
    second removes the first's spill folder and leaves none of its own."""
    work = Path(tempfile.mkdtemp(dir=root))
    spill = work / "spill"
    spill.mkdir()
    argv = [sys.executable, "-m", "seqlm", "ngram", "train", SMALL_2K, "--order", "3"]
    argv += ["--memory", "1M", "--workers", "1", "--tmp", "spill"]
    first = subprocess.Popen(
        [*argv, "--out", "m1"], cwd=work, env=env_for(work), stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while (
        not any(spill.glob("seqlm-ngram-*/*")) and first.poll() is None and time.time() < deadline
    ):
        time.sleep(0.005)
    first.kill()
    first.wait()
    left = list(spill.glob("seqlm-ngram-*"))
    for folder in left:  # the sweep spares folders touched in the last minute
        os.utime(folder, (time.time() - 3600,) * 2)
    second = subprocess.run(
        [*argv, "--out", "m2"], cwd=work, env=env_for(work), capture_output=True, text=True
    )
    after = list(spill.glob("seqlm-ngram-*"))
    return {
        "case": "fault: kill -9 while spilling, next start",
        "code": second.returncode,
        "line": f"killed: {len(left)} spill folder(s) left; after the next run: {len(after)}",
        "traceback": "Traceback" in second.stderr,
        "left": [str(p.relative_to(work)) for p in after] + leftovers(work),
        "seconds": 0,
        "right": len(left) == 1
        and not after
        and second.returncode == 0
        and not (work / "m1").exists(),
    }
