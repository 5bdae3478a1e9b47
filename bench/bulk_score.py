"""`seqlm score` on a large JSONL file: documents/s, tokens/s and peak memory, measured at
two input sizes to show that memory does not grow with the input.

    python bench/bulk_score.py                 # 100K and 1M short documents
    python bench/bulk_score.py --docs 200000   # a smaller run

Each size runs in its own process (`seqlm score ... --json`), whose peak RSS is read
from the kernel when it ends (`os.wait4`, the child's `ru_maxrss`, as `getrusage` reports it). The model is a
5-gram trained on 20,000 sentences of the same generator; documents are streamed to a
temporary file, never held in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [f"w{i}" for i in range(2000)]


def sentences(n: int, seed: int):
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(WORDS))]  # Zipf-like
    for _ in range(n):
        yield " ".join(rng.choices(WORDS, weights, k=rng.randint(5, 30)))


def write_jsonl(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(sentences(n, 1)):
            f.write(json.dumps({"id": i, "text": text}) + "\n")


def run(model: Path, data: Path, out: Path, workers: int) -> dict:
    """One `seqlm score` process; its own peak RSS from `os.wait4` (ru_maxrss, KiB)."""
    cmd = [sys.executable, "-m", "seqlm", "score", str(model), str(data), "--out", str(out)]
    cmd += ["--overwrite", "--json", "--workers", str(workers)]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout:
        child = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"seqlm score failed with code {child.returncode}")
        stdout.seek(0)
        result = json.loads(stdout.read())
    result.update(wall_s=round(time.perf_counter() - start, 2))
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="the large run's documents")
    parser.add_argument("--small", type=int, default=100_000, help="the small run's documents")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "train.txt").write_text("\n".join(sentences(20_000, 0)) + "\n")
        subprocess.run(
            [sys.executable, "-m", "seqlm", "ngram", "train", str(root / "train.txt"),
             "--order", "5", "--out", str(root / "m5")],
            check=True, capture_output=True,
        )  # fmt: skip
        for n in (args.small, args.docs):
            data = root / f"docs{n}.jsonl"
            write_jsonl(data, n)
            r = run(root / "m5", data, root / "out.jsonl", args.workers)
            print(
                f"{n:>9,} docs {data.stat().st_size / 2**20:7.1f} MiB: {r['seconds']:7.1f} s, "
                f"{r['documents_per_s']:>9,.0f} documents/s, {r['tokens_per_s']:>10,.0f} tokens/s, "
                f"peak RSS {r['peak_rss_mib']:.0f} MiB"
            )
            data.unlink()


if __name__ == "__main__":
    main()
