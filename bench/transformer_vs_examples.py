"""PTB, one core each, same wall clock: pytorch/examples' Transformer against seqlm's.

    python bench/transformer_vs_examples.py --examples PATH/TO/examples/word_language_model \
        [--cap 30] [--preset ptb-transformer] [--set lr=0.003 ...]

(a) `examples`: the real `main.py --model Transformer` of pytorch/examples'
    word_language_model with its README's Transformer command, `--lr 5` (otherwise its
    defaults: 2 layers of 200, 2 heads, MLP 200, dropout 0.2, SGD divided by 4 when
    validation does not improve, clip 0.25, batch 20, bptt 35; at the default lr 20 its
    Transformer diverges), run as a subprocess on PTB; its validation perplexity is read
    from each epoch's line. It scores validation in 35-token chunks, each read from an
    empty context.
(b) `seqlm`: `--cell transformer` through seqlm's trainer with `--preset` (default
    `ptb-transformer`: 2 blocks of 256, 64 tokens of context, adaptive softmax, no dropout,
    AdamW whose cosine ends with the preset's 10 minutes, validation included), changed by
    `--set key=value`; validated each minute on the whole valid split, every token scored
    with 32 to 64 tokens of history (strided windows).

Both arms start together, one thread each, so a shared machine slows both alike; the
examples' arm runs on alone once seqlm's preset has spent its budget.
Reported: each arm's validation curve (wall minutes, perplexity), the examples' best
perplexity within the cap, and when seqlm first reached it (the ratio of the two times).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

EPOCH_LINE = re.compile(r"end of epoch\s+(\d+).*valid ppl\s+([\d.]+)")


def run_examples(
    folder: Path, cap_s: float, emit, extra: list[str], model: str = "Transformer"
) -> None:
    """Run the examples' main.py on PTB until `cap_s`; emit(wall seconds, epoch, valid ppl)
    at each epoch's end (the only validation it does)."""
    data = Path(os.environ["SEQLM_DATA"]) / "ptb"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "main.py", "--data", str(data), "--model", model]
        cmd += ["--epochs", "1000", "--save", f"{tmp}/model.pt", *extra]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, text=True)
        timer = threading.Timer(cap_s, proc.kill)
        timer.start()
        for line in proc.stdout:
            match = EPOCH_LINE.search(line)
            if match:
                emit(time.perf_counter() - start, int(match.group(1)), float(match.group(2)))
        proc.wait()
        timer.cancel()


def run_seqlm(preset: str, shape: dict, emit) -> None:
    """Train `preset` changed by `shape` on PTB; emit(wall seconds, valid ppl) at each
    validation, the wall time counted from the trainer's start, validation included."""
    from seqlm.data import load_corpus
    from seqlm.train import Trainer, make_config

    corpus = load_corpus("ptb")
    config = make_config("ptb", None, {**shape, "checkpoint_every": 10**9}, preset)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, corpus, tmp)
        start = time.perf_counter()
        validate = trainer.validate

        def timed_validate():
            ppl = validate()
            emit(time.perf_counter() - start, ppl)
            return ppl

        trainer.validate = timed_validate
        trainer.run()


def arm_main(args) -> None:
    import torch

    torch.set_num_threads(1)

    def emit(wall: float, ppl: float) -> None:
        print(json.dumps({"arm": args.arm, "wall": wall, "ppl": ppl}), flush=True)

    if args.arm == "examples":
        run_examples(
            Path(args.examples),
            args.cap * 60,
            lambda w, _, p: emit(w, p),
            args.examples_args.split(),
        )
    else:
        run_seqlm(args.preset, json.loads(args.shape), emit)


def report(rows: dict[str, list[dict]], cap: float, seqlm: str, examples_args: str) -> None:
    print(f"\nPTB, examples capped at {cap:g} min, one thread each, both at once")
    print(f"examples: main.py --model Transformer {examples_args}")
    print(f"seqlm: {seqlm}")
    for arm, points in rows.items():
        curve = ", ".join(f"{p['wall'] / 60:.1f} min {p['ppl']:.1f}" for p in points[:12])
        print(f"{arm:<9} {curve}{' ...' if len(points) > 12 else ''}")
    if not rows["examples"]:
        print("examples: no epoch finished within the cap")
        return
    best = min(rows["examples"], key=lambda p: p["ppl"])
    print(f"examples best valid {best['ppl']:.2f} at {best['wall'] / 60:.1f} min")
    reached = next((p for p in rows["seqlm"] if p["ppl"] <= best["ppl"]), None)
    if reached is None:
        low = min((p["ppl"] for p in rows["seqlm"]), default=float("nan"))
        print(f"seqlm did not reach it within the cap (best {low:.2f}): NOT met")
    else:
        ratio = best["wall"] / reached["wall"]
        print(
            f"seqlm reached {reached['ppl']:.2f} at {reached['wall'] / 60:.1f} min: "
            f"{ratio:.2f}x sooner ({'met' if ratio >= 2 else 'NOT met'}: the goal is 2x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", required=True, help="examples' word_language_model dir")
    parser.add_argument("--cap", type=float, default=30, help="minutes for the examples' arm")
    parser.add_argument("--preset", default="ptb-transformer", help="seqlm's preset")
    parser.add_argument("--set", nargs="*", default=[], help="seqlm overrides, e.g. lr=0.003")
    parser.add_argument(
        "--examples-args", default="--lr 5", help="more flags for main.py (its README's)"
    )
    parser.add_argument("--arm", choices=["examples", "seqlm"], help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        return arm_main(args)
    if not (Path(args.examples) / "main.py").exists():
        sys.exit(f"{args.examples}: no main.py (point --examples at word_language_model)")
    shape = {}
    for item in args.set:
        key, value = item.split("=", 1)
        shape[key] = json.loads(value)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    base = [sys.executable, __file__, "--examples", args.examples, "--cap", str(args.cap)]
    base += [f"--examples-args={args.examples_args}"]
    base += ["--preset", args.preset, "--shape", json.dumps(shape)]
    rows: dict[str, list[dict]] = {"examples": [], "seqlm": []}

    def collect(arm: str) -> None:
        proc = subprocess.Popen([*base, "--arm", arm], stdout=subprocess.PIPE, text=True, env=env)
        for line in proc.stdout:
            row = json.loads(line)
            rows[arm].append(row)
            print(f"{arm:<9} {row['wall'] / 60:6.1f} min  valid {row['ppl']:8.2f}", flush=True)
        proc.wait()

    workers = [threading.Thread(target=collect, args=(arm,)) for arm in rows]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seqlm = f"--preset {args.preset}" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in shape.items()
    )
    report(rows, args.cap, seqlm, args.examples_args)


if __name__ == "__main__":
    main()
