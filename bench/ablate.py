"""Each training technique of the `ptb` preset taken out (or added) alone, step-matched.

    python bench/ablate.py [--corpus ptb200k] [--steps 300] [--arms preset no-weight-drop ...]

Every arm trains the `ptb` preset (2x650 LSTM, adaptive softmax, locked + word dropout,
weight drop, AdamW warmup-stable-decay) for the same number of steps, with the schedule
laid over the steps rather than a wall-time budget, so the arms differ only in the one
setting named and not in how busy the machine was. Training is deterministic per step,
so arms that share a prefix of settings share its numbers. Printed per arm: what changed,
tokens/s, valid/test perplexity of the best checkpoint (whole splits, batch 1) and the
test change against the full preset (positive: the technique helps).

The default corpus is `ptb200k` (the first ~200K tokens of PTB train, with PTB's valid and
test; see bench/defaults.py): 300 steps are ~3.4 epochs of it, far enough for a 13M-
parameter model to overfit, which is what the regularisers are for. On the whole of PTB
the same steps are a third of an epoch and measure early-training speed instead. Arms run
two at a time, one process and `--threads-each` threads each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from defaults import prepare  # noqa: E402  (sets $SEQLM_DATA beside the checkout)

NO_DROPOUT = dict(dropout=0.0, dropout_embed=0.0, dropout_between=0.0, dropout_words=0.0)
ARMS: dict[str, dict] = {
    "preset": {},
    "no-weight-drop": dict(weight_drop=0.0),
    "no-word-dropout": dict(dropout_words=0.0),
    "unlocked-dropout": dict(variational=False),
    "no-dropout": dict(NO_DROPOUT, weight_drop=0.0),
    "plus-ar-tar": dict(ar=2.0, tar=1.0),
    "full-softmax": dict(adaptive_cutoffs=[]),
    "cosine-schedule": dict(decay_fraction=1.0),
    "fixed-bptt": dict(variable_bptt=False),
}

CHILD = r"""
import json, logging, sys
import seqlm
from seqlm.data import load_corpus
from seqlm.data.spec import CorpusSpec
logging.basicConfig(level=logging.WARNING)
source, level, out, settings = sys.argv[1:5]
corpus = load_corpus(CorpusSpec(source, level or None))
result = seqlm.train(corpus, out, preset="ptb", **json.loads(settings))
print(json.dumps(result.to_json()))
"""


def arm_settings(arm: str, steps: int, threads: int, seed: int | None = None) -> dict:
    seeded = {} if seed is None else {"seed": seed}
    return dict(
        ARMS[arm],
        **seeded,
        max_steps=steps,
        max_minutes=0,
        budget_schedule=False,
        epochs=10**6,
        eval_every=max(1, steps // 6),
        checkpoint_every=10**9,
        threads=threads,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="ptb200k")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--threads-each", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seed", type=int, help="another seed (default: the preset's)")
    parser.add_argument("--json", metavar="FILE", help="also write every arm's result")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source, level = prepare(args.corpus, Path(tmp))
        pending = list(args.arms)
        while pending:
            batch, pending = pending[: args.parallel], pending[args.parallel :]
            procs = {}
            for arm in batch:
                settings = arm_settings(arm, args.steps, args.threads_each, args.seed)
                cmd = [sys.executable, "-c", CHILD, source, level, f"{tmp}/{arm}"]
                procs[arm] = (
                    subprocess.Popen(
                        [*cmd, json.dumps(settings)], stdout=subprocess.PIPE, text=True
                    ),
                    time.perf_counter(),
                )
            for arm, (proc, start) in procs.items():
                out, _ = proc.communicate()
                if proc.returncode != 0:
                    sys.exit(f"arm {arm} failed (exit {proc.returncode})")
                results[arm] = json.loads(out.strip().splitlines()[-1])
                results[arm]["wall_seconds"] = time.perf_counter() - start
                print(f"done: {arm}", file=sys.stderr, flush=True)
    report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


def report(results: dict[str, dict], args: argparse.Namespace) -> None:
    base = results.get("preset")
    print(
        f"{args.corpus}, `ptb` preset, {args.steps} steps per arm (schedule over the steps), "
        f"{args.threads_each} thread(s) per arm, {args.parallel} arms side by side"
        + ("" if args.seed is None else f", seed {args.seed}")
    )
    print(f"{'arm':<18}{'tokens/s':>9}{'valid':>9}{'test':>9}{'Δtest':>8}  changed")
    for arm, r in results.items():
        test = r["test"]["perplexity"]
        delta = f"{test - base['test']['perplexity']:+8.2f}" if base and arm != "preset" else ""
        changed = ", ".join(f"{k}={v}" for k, v in ARMS[arm].items()) or "-"
        print(
            f"{arm:<18}{r['tokens_per_s']:>9,.0f}{r['valid']['perplexity']:>9.2f}"
            f"{test:>9.2f}{delta:>8}  {changed}"
        )
    print(
        "(Δtest: the arm's test perplexity minus the preset's; positive = the preset's way helps)"
    )


if __name__ == "__main__":
    main()
