"""Time to PTB validation perplexity 200 / 150 / 125 / 120: pytorch/examples vs seqlm's recipe.

    python bench/time_to_ppl.py [--cap 60] [--seqlm-cap M] [--threads-each 1] [--sequential]
        [--examples PATH/TO/examples/word_language_model]

(a) `examples` (with `--examples`): the real `main.py` of pytorch/examples'
    word_language_model, its README's 2x650 tied command (`--emsize 650 --nhid 650
    --dropout 0.5 --tied`, otherwise its defaults), run as a subprocess; validation
    perplexity is read from each epoch's line. Its tokens/s counts the epoch's validation.
    `plain` (without `--examples`): a replica of that loop of pytorch/examples' word_language_model — 2x650 tied LSTM,
    dropout 0.5, SGD lr 20 (divided by 4 when validation does not improve), clip 0.25,
    batch 20, bptt 35, `loss.item()` every step, validation (batch 10) at each epoch end.
(b) `seqlm`: the documented PTB recipe (`seqlm train --data ptb --max-minutes M`, M the
    `--seqlm-cap`: 2x650 LSTM, adaptive softmax, variational dropout, AdamW held at its
    peak, then annealed over the budget's last quarter), validated every 100 steps (on 10
    streams, as (a) does).

By default the two arms run *at the same time*, one core each, so they see identical
conditions on a shared machine; `--sequential` runs them one after the other with all
threads. Times are wall clock from the start of training, validation included; only
validations that end within the cap count. Each arm
also reports its model-FLOPs utilisation: training FLOPs per token (3x the forward pass's
2·MACs of the recurrent and output layers; the adaptive softmax counted for the cluster
mix of the training targets; embeddings are lookups, 0) times tokens/s, over the fp32
GEMM peak measured with the same threads in this run (the faster of MKL and oneDNN).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

# the project's data beside the checkout unless $SEQLM_DATA says otherwise
os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

THRESHOLDS = (200.0, 150.0, 125.0, 120.0)
EXAMPLES_ARGS = ["--emsize", "650", "--nhid", "650", "--dropout", "0.5", "--tied"]


def gemm_peak(threads: int, n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """fp32 GFLOP/s of an n x n product through each of torch's CPU GEMM libraries: MKL
    (`torch.mm`) and oneDNN (the library of the fused LSTM kernel). MKL runs its AVX2 code
    on AMD CPUs, so on this EPYC it reaches ~45% of oneDNN's AVX-512 rate; the peak that
    MFU divides by is the larger one."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a_dnn, b_dnn = a.to_mkldnn(), b.t().contiguous().to_mkldnn()
    runs = {"mkl": lambda: a @ b, "onednn": lambda: torch._C._nn.mkldnn_linear(a_dnn, b_dnn, None)}
    peaks = {}
    for name, fn in runs.items():
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        peaks[name] = 2 * n**3 / min(times) / 1e9
    return peaks


def lstm_flops(embed: int, hidden: int, layers: int, out: int) -> float:
    sizes = [embed] + [hidden] * (layers - 1)
    outs = [hidden] * (layers - 1) + [out]
    return sum(2 * 4 * o * (i + o) for i, o in zip(sizes, outs, strict=True))


def adaptive_flops(d: int, cutoffs: list[int], vocab: int, targets: np.ndarray) -> float:
    """Expected forward FLOPs per token of torch's AdaptiveLogSoftmaxWithLoss (div 4)."""
    edges = [*cutoffs, vocab]
    flops = 2 * d * (cutoffs[0] + len(cutoffs))
    for i in range(len(cutoffs)):
        share = float(np.mean((targets >= edges[i]) & (targets < edges[i + 1])))
        proj = d // 4 ** (i + 1)
        flops += share * 2 * (d * proj + proj * (edges[i + 1] - edges[i]))
    return flops


# -- arm (a): the pytorch/examples loop ----------------------------------------------------
class ExamplesModel(nn.Module):
    def __init__(self, ntoken: int, size: int = 650, layers: int = 2, dropout: float = 0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, size)
        self.rnn = nn.LSTM(size, size, layers, dropout=dropout)
        self.decoder = nn.Linear(size, ntoken)
        self.decoder.weight = self.encoder.weight  # tied
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(output)).view(-1, self.decoder.out_features), hidden


def batchify(ids: np.ndarray, b: int) -> torch.Tensor:
    n = len(ids) // b
    return torch.from_numpy(np.asarray(ids[: n * b], dtype=np.int64).reshape(b, n).T.copy())


def run_plain(corpus, cap_s: float, emit) -> None:
    torch.manual_seed(1111)
    ntoken = len(corpus.vocab)
    model, criterion = ExamplesModel(ntoken), nn.CrossEntropyLoss()
    train, valid = batchify(corpus["train"], 20), batchify(corpus["valid"], 10)
    lr, best, start, tokens, train_s = 20.0, math.inf, time.perf_counter(), 0, 0.0
    while time.perf_counter() - start < cap_s:
        model.train()
        hidden, t0 = None, time.perf_counter()
        for i in range(0, train.shape[0] - 1, 35):
            n = min(35, train.shape[0] - 1 - i)
            x, y = train[i : i + n], train[i + 1 : i + 1 + n]
            hidden = None if hidden is None else tuple(h.detach() for h in hidden)
            model.zero_grad()
            output, hidden = model(x, hidden)
            loss = criterion(output, y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            loss.item()  # the examples' per-step host sync (total_loss += loss.item())
            tokens += x.numel()
            if time.perf_counter() - start > cap_s:
                break
        train_s += time.perf_counter() - t0
        model.eval()
        total, hidden = 0.0, None
        with torch.no_grad():
            for i in range(0, valid.shape[0] - 1, 35):
                n = min(35, valid.shape[0] - 1 - i)
                x, y = valid[i : i + n], valid[i + 1 : i + 1 + n]
                output, hidden = model(x, hidden)
                total += len(x) * criterion(output, y.reshape(-1)).item()
        ppl = math.exp(total / (valid.shape[0] - 1))
        emit(time.perf_counter() - start, ppl, tokens, train_s)
        if ppl < best:
            best = ppl
        else:
            lr /= 4


# -- arm (b): seqlm's recipe ---------------------------------------------------------------
def run_seqlm(corpus, cap_s: float, emit, preset: str = "ptb") -> None:
    from seqlm.train import Trainer, make_config

    overrides = {"max_minutes": cap_s / 60, "eval_every": 100, "checkpoint_every": 10**9}
    overrides["eval_share"] = 0.5  # every 100 steps (validation is ~10% of the time)
    config = make_config("ptb", None, overrides, preset)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, corpus, tmp)
        start = time.perf_counter()
        validate = trainer.validate

        def timed_validate():
            ppl = validate()
            p = trainer.progress
            emit(time.perf_counter() - start, ppl, p.tokens, p.elapsed)
            if time.perf_counter() - start > cap_s:  # the cap is wall time, as for (a)
                raise SystemExit
            return ppl

        trainer.validate = timed_validate
        trainer.run()


def run_examples(folder: str, corpus, cap_s: float, emit) -> None:
    from transformer_vs_examples import run_examples as run_main_py

    per_epoch = (len(corpus["train"]) // 20 - 1) * 20  # batchify(20), then windows of 35
    run_main_py(
        Path(folder),
        cap_s,
        lambda wall, epoch, ppl: emit(wall, ppl, epoch * per_epoch, wall),
        EXAMPLES_ARGS,
        model="LSTM",
    )


def arm_main(arm: str, cap_min: float, threads: int, examples: str | None, preset: str) -> None:
    from seqlm.data import load_corpus

    torch.set_num_threads(threads)
    print(json.dumps({"arm": arm, "peak": gemm_peak(threads)}), flush=True)
    corpus = load_corpus("ptb")

    def emit(wall, ppl, tokens, train_s):
        print(
            json.dumps(
                {"arm": arm, "wall": wall, "ppl": ppl, "tokens": tokens, "train_s": train_s}
            ),
            flush=True,
        )

    if arm == "examples":
        run_examples(examples, corpus, cap_min * 60, emit)
    elif arm == "plain":
        run_plain(corpus, cap_min * 60, emit)
    else:
        run_seqlm(corpus, cap_min * 60, emit, preset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=60, help="minutes for the baseline arm")
    parser.add_argument("--seqlm-cap", type=float, help="minutes for seqlm's (default --cap)")
    parser.add_argument("--preset", default="ptb", help="seqlm's preset (ptb, ptb-fast)")
    parser.add_argument("--threads-each", type=int, default=1)
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument("--examples", help="run the real examples' word_language_model here")
    parser.add_argument("--arm", choices=["plain", "examples", "seqlm"], help=argparse.SUPPRESS)
    parser.add_argument("--log", help="also append every line the arms print to this file")
    parser.add_argument(
        "--rows", nargs="+", help="no run: the table from these files of JSON lines (--log's)"
    )
    args = parser.parse_args()
    if args.rows:
        return report_from(args)
    if args.arm:
        return arm_main(args.arm, args.cap, args.threads_each, args.examples, args.preset)
    if args.examples and not (Path(args.examples) / "main.py").exists():
        sys.exit(f"{args.examples}: no main.py (point --examples at word_language_model)")
    threads = torch.get_num_threads() if args.sequential else args.threads_each
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    base, caps = arms(args)

    def command(arm: str) -> list[str]:
        cmd = [sys.executable, __file__, "--cap", str(caps[arm]), "--threads-each", str(threads)]
        cmd += ["--preset", args.preset]
        return cmd + (["--examples", args.examples] if args.examples else []) + ["--arm", arm]

    procs = {
        arm: subprocess.Popen(command(arm), stdout=subprocess.PIPE, text=True, env=env)
        for arm in ([base] if args.sequential else [base, "seqlm"])
    }
    rows: dict[str, list[dict]] = {base: [], "seqlm": []}
    peaks: dict[str, dict[str, float]] = {}

    def collect(arm, proc):
        for line in proc.stdout:
            row = json.loads(line)
            if args.log:  # the peaks too, so that --rows can rebuild the whole table
                with open(args.log, "a") as f:
                    f.write(line)
            if "peak" in row:
                peaks[arm] = row["peak"]
                continue
            rows[arm].append(row)
            print(f"{arm:<6} {row['wall'] / 60:6.1f} min  valid {row['ppl']:8.2f}", flush=True)
        proc.wait()

    if args.sequential:
        collect(base, procs[base])
        collect(
            "seqlm", subprocess.Popen(command("seqlm"), stdout=subprocess.PIPE, text=True, env=env)
        )
    else:
        import threading

        workers = [threading.Thread(target=collect, args=item) for item in procs.items()]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    report(rows, peaks, threads, caps)


def arms(args) -> tuple[str, dict[str, float]]:
    """The baseline arm's name, and each arm's cap in minutes."""
    base = "examples" if args.examples else "plain"
    return base, {base: args.cap, "seqlm": args.seqlm_cap or args.cap}


def report_from(args) -> None:
    """The table from logged lines: each a validation row or an arm's GEMM peak."""
    base, caps = arms(args)
    rows: dict[str, list[dict]] = {base: [], "seqlm": []}
    peaks: dict[str, dict[str, float]] = {}
    for name in args.rows:
        for line in Path(name).read_text().splitlines():
            row = json.loads(line)
            if "peak" in row:
                peaks[row["arm"]] = row["peak"]
            else:
                rows[row["arm"]].append(row)
    report(rows, peaks, args.threads_each, caps)


def report(rows: dict, peaks: dict, threads: int, caps: dict[str, float]) -> None:
    from seqlm.data import load_corpus

    corpus = load_corpus("ptb")
    v = len(corpus.vocab)
    full = 3 * (lstm_flops(650, 650, 2, 650) + 2 * 650 * v)
    flops = {
        "plain": full,
        "examples": full,
        "seqlm": 3
        * (lstm_flops(650, 650, 2, 650) + adaptive_flops(650, [2000, 6000], v, corpus["train"])),
    }
    print(
        f"\nPTB, {threads} thread(s) per arm, cap "
        + ", ".join(f"{a} {c:g} min" for a, c in caps.items())
        + "; fp32 GEMM peak, n=2048, "
        "GFLOP/s, measured by each arm: "
        + ", ".join(f"{a} MKL {p['mkl']:.0f} / oneDNN {p['onednn']:.0f}" for a, p in peaks.items())
        + "\nminutes of wall time (validation included) to reach:"
    )
    print(
        f"{'arm':<8}"
        + "".join(f"{'< ' + format(t, 'g'):>10}" for t in THRESHOLDS)
        + f"{'best':>10}{'tokens/s':>10}{'GFLOP/s':>9}{'MFU':>6}"
    )
    reached = {}
    for arm, arm_rows in rows.items():
        arm_rows = [r for r in arm_rows if r["wall"] <= caps[arm] * 60]
        if not arm_rows:
            continue
        times = []
        for t in THRESHOLDS:
            hit = next((r["wall"] for r in arm_rows if r["ppl"] < t), None)
            times.append(hit)
        reached[arm] = times
        last = arm_rows[-1]
        speed = last["tokens"] / max(last["train_s"], 1e-9)
        gflops = flops[arm] * speed / 1e9
        peak = max(peaks[arm].values()) if arm in peaks else math.nan
        cells = "".join(f"{t / 60:>10.1f}" if t is not None else f"{'—':>10}" for t in times)
        print(
            f"{arm:<8}{cells}{min(r['ppl'] for r in arm_rows):>10.2f}{speed:>10,.0f}"
            f"{gflops:>9.1f}{gflops / peak:>6.0%}"
        )
    base = next(a for a in caps if a != "seqlm")
    if len(reached) == 2:
        for t, a, b in zip(THRESHOLDS, reached[base], reached["seqlm"], strict=True):
            if b is None:
                print(f"< {t:g}: seqlm did not reach it in {caps['seqlm']:g} min")
            elif a is not None:
                print(f"< {t:g}: seqlm {a / b:.1f}x sooner")
            else:
                print(
                    f"< {t:g}: {base} did not reach it in {caps[base]:g} min, seqlm at "
                    f"{b / 60:.1f} min: at least {caps[base] * 60 / b:.1f}x sooner"
                )


if __name__ == "__main__":
    main()
