"""One corpus, one time budget, every kind of model: the tables of "After the notes".

    python bench/cells_table.py --data tinyshakespeare --minutes 30 --threads 1 --parallel 2 \
        --out runs/cells-ts [--only lstm,transformer] [--reuse]

Each row is one `seqlm train` command (`ROWS` below, printed with the table), run with
`--json --max-minutes M --threads T --budget-schedule` (the learning rate's cosine spans
the time budget, so every model ends its budget annealed rather than cut off inside a
schedule planned for more epochs than it reads). `--parallel 2` runs two commands
at a time, one thread each: both see the same shared machine. `--reuse` prints the table
from the runs already in `--out`.

Reported per row: parameters, tokens read and tokens/s, the best checkpoint's valid and
test figures on whole splits (bits per character for a character corpus, else perplexity),
and the training minute of the first validation under each threshold (from the run's
metrics.jsonl; validation time not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

# the flags of each row on top of the corpus's preset; shapes of about equal parameters
ROWS = {
    "tinyshakespeare": {
        "lstm": [],
        "transformer": ["--preset", "transformer"],
        "mlstm": ["--cell", "mlstm", "--hidden", "832"],
        "mingru": ["--cell", "mingru", "--hidden", "1216"],
        "minlstm": ["--cell", "minlstm", "--hidden", "1024"],
        "slstm": ["--cell", "slstm", "--hidden", "768"],
    },
    # PTB on one core's short budget: the presets made for it (the 2x650 LSTM's `ptb-fast`,
    # `ptb-transformer`), the recurrent cells swapped into `ptb-fast` at about its 15.5M
    # parameters; the budget counts validation, as `ptb-transformer`'s does
    "ptb": {
        "lstm": ["--preset", "ptb-fast", "--budget-includes-eval"],
        "transformer": ["--preset", "ptb-transformer"],
        "mlstm": ["--preset", "ptb-fast", "--budget-includes-eval", "--cell", "mlstm", "--hidden", "900"],
        "mingru": ["--preset", "ptb-fast", "--budget-includes-eval", "--cell", "mingru", "--hidden", "1200"],
    },
}  # fmt: skip
THRESHOLDS = {"tinyshakespeare": (6.0, 5.0, 4.5), "ptb": (200.0, 150.0, 125.0)}


def command(data: str, name: str, args) -> list[str]:
    out = Path(args.out) / name
    return [
        "seqlm", "train", "--data", data, "--out", str(out), "--overwrite", "--json",
        "--max-minutes", f"{args.minutes:g}", "--threads", str(args.threads),
        "--budget-schedule", *ROWS[data][name],
    ]  # fmt: skip


def run(data: str, name: str, args) -> None:
    cmd = [sys.executable, "-m", "seqlm", *command(data, name, args)[1:]]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        print(f"{name}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}", flush=True)
        return
    (Path(args.out) / name / "result.json").write_text(proc.stdout)
    print(f"{name}: done", flush=True)


def first_under(metrics: Path, threshold: float) -> float | None:
    for line in metrics.read_text().splitlines():
        row = json.loads(line)
        if row.get("type") == "valid" and row["valid_ppl"] < threshold:
            return row["wall"] / 60
    return None


def table(data: str, args) -> None:
    thresholds = THRESHOLDS.get(data, ())
    print(f"{data}, {args.minutes:g} min per model, {args.threads} thread(s) each")
    rows = []
    for name in ROWS[data]:
        out = Path(args.out) / name
        if (out / "result.json").exists():
            r = json.loads((out / "result.json").read_text())
            rows.append((name, r, [first_under(out / "metrics.jsonl", t) for t in thresholds]))
    if not rows:
        print("no finished runs")
        return
    chars = rows[0][1]["test"].get("bits_per_char") is not None
    key, unit = ("bits_per_char", "bits/char") if chars else ("perplexity", "ppl")
    head = f"{'model':<12}{'params':>11}{'tokens':>12}{'tok/s':>8}"
    head += f"{'valid ' + unit:>16}{'test ' + unit:>16}"
    head += "".join(f"{'< ' + format(t, 'g'):>8}" for t in thresholds)
    print(head)
    for name, r, reached in rows:
        cells = "".join(f"{t:>8.1f}" if t is not None else f"{'-':>8}" for t in reached)
        print(
            f"{name:<12}{r['parameters']:>11,}{r['tokens']:>12,}{r['tokens_per_s']:>8,.0f}"
            f"{r['valid'][key]:>16.4f}{r['test'][key]:>16.4f}{cells}"
        )
    if thresholds:
        print("(< X: training minutes to the first validation perplexity under X)")
    print("commands:")
    for name, *_ in rows:
        print(f"  {name}: " + " ".join(command(data, name, args)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, choices=sorted(ROWS))
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", help="comma-separated row names")
    parser.add_argument("--reuse", action="store_true", help="only print the table")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(ROWS[args.data])
    if not args.reuse:  # in order, `--parallel` at a time
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda name: run(args.data, name, args), names))
    table(args.data, args)


if __name__ == "__main__":
    sys.exit(main())
