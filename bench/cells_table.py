"""One corpus, one time budget, every kind of model: the tables of "After the notes".

    python bench/cells_table.py --data tinyshakespeare --minutes 30 --threads 1 --parallel 2 \
        --out runs/cells-ts [--only lstm,transformer] [--reuse]
    python bench/cells_table.py --data ptb --rows ptb-hour --minutes 60 --threads 2 --out runs/cells-ptb60

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
    # PTB in an hour on two threads (`--rows ptb-hour --data ptb`): the `ptb` preset's LSTM
    # and the other models at the `ptb` preset's dropouts (weight drop only where there is a
    # hidden-to-hidden matrix), the Transformer grown to about the tokens the LSTM reads in
    # an hour (3 blocks of 384, 128 tokens of context) and given dropout for ~12 epochs;
    # the budget counts training, validation comes on top, as for the `ptb` preset
    "ptb-hour": {
        "lstm": ["--preset", "ptb"],
        "transformer": [
            "--preset", "ptb-transformer", "--embed", "384", "--heads", "6", "--layers", "3",
            "--hidden", "1536", "--context", "128", "--bptt", "128", "--dropout", "0.3",
            "--dropout-embed", "0.1", "--dropout-between", "0.15", "--lr", "1e-3",
            "--warmup-steps", "200", "--no-budget-includes-eval", "--eval-minutes", "2",
        ],
        "mlstm": ["--preset", "ptb", "--cell", "mlstm", "--hidden", "900", "--weight-drop", "0"],
        "mingru": ["--preset", "ptb", "--cell", "mingru", "--hidden", "1200", "--weight-drop", "0"],
    },
}  # fmt: skip
THRESHOLDS = {
    "tinyshakespeare": (6.0, 5.0, 4.5),
    "ptb": (200.0, 150.0, 125.0),
    "ptb-hour": (200.0, 150.0, 120.0),
}


def command(name: str, args) -> list[str]:
    out = Path(args.out) / name
    return [
        "seqlm", "train", "--data", args.data, "--out", str(out), "--overwrite", "--json",
        "--max-minutes", f"{args.minutes:g}", "--threads", str(args.threads),
        "--budget-schedule", *ROWS[args.rows][name],
    ]  # fmt: skip


def run(name: str, args) -> None:
    cmd = [sys.executable, "-m", "seqlm", *command(name, args)[1:]]
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


def table(args) -> None:
    thresholds = THRESHOLDS.get(args.rows, ())
    title = args.data if args.rows == args.data else f"{args.data} ({args.rows})"
    print(f"{title}, {args.minutes:g} min per model, {args.threads} thread(s) each")
    rows = []
    for name in ROWS[args.rows]:
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
        print(f"  {name}: " + " ".join(command(name, args)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, choices=("ptb", "tinyshakespeare"))
    parser.add_argument("--rows", choices=sorted(ROWS), help="row set (default: --data's)")
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", help="comma-separated row names")
    parser.add_argument("--reuse", action="store_true", help="only print the table")
    args = parser.parse_args()
    args.rows = args.rows or args.data
    names = args.only.split(",") if args.only else list(ROWS[args.rows])
    if not args.reuse:  # in order, `--parallel` at a time
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda name: run(name, args), names))
    table(args)


if __name__ == "__main__":
    sys.exit(main())
