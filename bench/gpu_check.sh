#!/usr/bin/env bash
# GPU check of the AWD-LSTM recipe, <= 8 minutes on one GPU (prepared; not yet run: no GPU
# was lent to the session that wrote it).
#
#   SEQLM_DATA=/path/to/data bash bench/gpu_check.sh      # PTB under $SEQLM_DATA/ptb
#
# Trains `--preset ptb-awd` (3-layer 1150/1150/400 tied, weight drop, NT-ASGD lr 30,
# batch 20, variable bptt 70, fp32) for a fixed number of steps (STEPS, default 2000 = ~3
# PTB epochs; AWD-LSTM runs ~45-65 s per epoch on a P100, so ~2.5 min there), validating
# every 1000 steps, then prints one JSON line: GPU name, steps, tokens/s, wall time,
# validation perplexity (whole split, batch 1), peak GPU memory. Expected on a correct
# implementation: valid perplexity falling through ~250 -> ~150 over these 3 epochs (AWD's
# own log: ~280 after epoch 1, ~180 after epoch 3) and no NaN.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}/src${PYTHONPATH:+:$PYTHONPATH}"
OUT_DIR="${OUT:-/tmp}/gpu_check_run"
rm -rf "$OUT_DIR"
STEPS="${STEPS:-2000}" OUT_DIR="$OUT_DIR" timeout 480 python - <<'PY'
import json, os, time

import torch

from seqlm.train import train

assert torch.cuda.is_available(), "no CUDA device"
steps = int(os.environ["STEPS"])
torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
result = train("ptb", os.environ["OUT_DIR"], preset="ptb-awd", max_steps=steps, eval_every=1000,
               device="cuda")
wall = time.perf_counter() - start
print(json.dumps({
    "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "steps": result.steps,
    "tokens": result.tokens, "tokens_per_s": result.tokens_per_s,
    "train_seconds": result.train_seconds, "eval_seconds": result.eval_seconds,
    "wall_seconds": round(wall, 1), "best_valid_ppl_during_training": result.best_valid_ppl,
    "valid_ppl": result.valid.perplexity, "test_ppl": result.test.perplexity,
    "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    "parameters": result.parameters,
}))
PY
