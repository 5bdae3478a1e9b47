"""Training memory does not grow with the corpus: 10M vs 100M training tokens.

    python bench/large_corpus.py [--steps 60]

Builds two corpora from PTB's training text repeated (≈10M and ≈100M tokens; the first
load tokenizes and writes the memory-mapped cache), then in a fresh process per corpus
trains a 2x200 LSTM for `--steps` steps from the cache. The trainer reads each window's
rows from the memory-mapped token file, so what the corpus costs the process should not
depend on its size. Printed per corpus, median of `--runs` fresh processes: anonymous
resident memory (the process's own allocations, /proc's RssAnon) once the corpus is open
and the trainer built, and the peak resident memory while training (VmHWM: it also counts
the token file's pages the mmap has touched, and the allocator's run-to-run variation,
tens of MB, shows up here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, tempfile, time
import torch
from seqlm.data import load_corpus
from seqlm.train import Trainer, make_config
torch.set_num_threads(2)
corpus = load_corpus(sys.argv[1])
config = make_config("bench", None, dict(model="lstm", embed=200, hidden=200, layers=2,
    batch_size=20, bptt=35, optimizer="sgd", lr=20.0, clip=0.25, max_steps=int(sys.argv[2]),
    checkpoint_every=10**9, log_every=10**9, eval_every=0, epochs=1))
with tempfile.TemporaryDirectory() as out:
    trainer = Trainer(config, corpus, out)
    ready = status()["RssAnon"]
    trainer.validate = lambda: 0.0
    start = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - start
print(json.dumps({"train_tokens": len(corpus["train"]), "seconds": seconds,
                  "ready_mb": ready, "peak_mb": status()["VmHWM"]}))
"""
STATUS = r"""
def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) / 1024 for k in ("RssAnon", "VmHWM")}
"""


def make_corpus(directory: Path, ptb: Path, repeats: int) -> Path:
    directory.mkdir(parents=True)
    text = (ptb / "train.txt").read_bytes()
    with open(directory / "train.txt", "wb") as f:
        for _ in range(repeats):
            f.write(text)
    for split in ("valid", "test"):
        (directory / f"{split}.txt").write_bytes((ptb / f"{split}.txt").read_bytes())
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = Path(os.environ.get("SEQLM_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SEQLM_CACHE": str(Path(tmp) / "cache")}
        print(
            f"{'train tokens':>14} {'text MB':>8} {'RssAnon when ready':>19} "
            f"{'peak RSS training':>18} {'s':>6}"
        )
        for repeats in (11, 108):
            corpus = make_corpus(Path(tmp) / f"ptb_x{repeats}", data / "ptb", repeats)
            mb = (corpus / "train.txt").stat().st_size / 1e6
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from seqlm.data import load_corpus; load_corpus(sys.argv[1])",
                    str(corpus),
                ],
                env=env,
                check=True,
            )  # builds the cache
            runs = [
                json.loads(
                    subprocess.run(
                        [sys.executable, "-c", STATUS + CHILD, str(corpus), str(args.steps)],
                        env=env,
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                for _ in range(args.runs)
            ]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(
                f"{med['train_tokens']:>14,.0f} {mb:>8.0f} {med['ready_mb']:>16.0f} MB "
                f"{med['peak_mb']:>15.0f} MB {med['seconds']:>6.1f}"
            )
            (corpus / "train.txt").unlink()


if __name__ == "__main__":
    main()
