"""Tokenizing + encoding speed and memory of the data pipeline, and the cached reload time.

    python bench/data_pipeline.py            # PTB train, a ~100 MB file (PTB repeated)

Each measurement runs in a fresh subprocess so its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from seqlm.data import load_corpus
t = time.perf_counter()
corpus = load_corpus(sys.argv[1], fractions=(0.98, 0.01, 0.01), cache=sys.argv[2] == "1")
n = sum(len(corpus[s]) for s in ("train", "valid", "test"))
print(json.dumps({"seconds": time.perf_counter() - t, "tokens": n,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(spec: str, cache: bool, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, spec, "1" if cache else "0"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def baseline_mb(env: dict) -> float:
    code = "import resource, seqlm.data; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)"
    return float(
        subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        ).stdout
    )


def main() -> None:
    data = Path(os.environ.get("SEQLM_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
    ptb = data / "ptb" / "train.txt"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SEQLM_CACHE": tmp, "SEQLM_DATA": str(data)}
        big = Path(tmp) / "ptb_x20.txt"
        text = ptb.read_bytes()
        with open(big, "wb") as f:
            for _ in range(20):
                f.write(text)
        base = baseline_mb(env)
        print(f"interpreter + seqlm.data baseline: {base:.0f} MB")
        print(
            f"{'file':<16}{'MB':>8}{'tokens':>12}{'s':>8}{'MB/s':>8}{'Mtok/s':>8}"
            f"{'peak MB':>9}{'x text':>8}{'reload s':>10}"
        )
        for name, path in [("ptb train", ptb), ("ptb x20", big)]:
            mb = path.stat().st_size / 1e6
            cold = measure(str(path), cache=True, env=env)
            warm = measure(str(path), cache=True, env=env)
            extra = cold["peak_mb"] - base
            print(
                f"{name:<16}{mb:>8.1f}{cold['tokens']:>12,}{cold['seconds']:>8.2f}"
                f"{mb / cold['seconds']:>8.1f}{cold['tokens'] / cold['seconds'] / 1e6:>8.2f}"
                f"{extra:>9.0f}{extra / mb:>8.2f}{warm['seconds']:>10.3f}"
            )


if __name__ == "__main__":
    main()
