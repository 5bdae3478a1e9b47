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
# validation perplexity of the best checkpoint (whole split, batch 1), peak GPU memory. Expected on a correct
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

from seqlm.data import load_corpus
from seqlm.evaluate import evaluate
from seqlm.loading import load
from seqlm.train import Trainer, make_config

assert torch.cuda.is_available(), "no CUDA device"
steps, out = int(os.environ["STEPS"]), os.environ["OUT_DIR"]
corpus = load_corpus("ptb")
config = make_config("ptb", preset="ptb-awd",
                     overrides=dict(max_steps=steps, eval_every=1000, device="cuda"))
torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
summary = Trainer(config, corpus, out).run()
wall = time.perf_counter() - start
peak = torch.cuda.max_memory_allocated() / 2**30
model = load(out, device="cuda")  # the best checkpoint, scored on the GPU (batch 1, exact)
t0 = time.perf_counter()
valid = evaluate(model, corpus, "valid")
print(json.dumps({
    "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, **summary,
    "wall_seconds": round(wall, 1), "valid_ppl_whole_split": valid.perplexity,
    "valid_eval_seconds": round(time.perf_counter() - t0, 1),
    "peak_memory_gib": round(peak, 2), "parameters": model.num_parameters(),
}))
PY
