"""torchrun with two CPU processes (gloo) computes what one process with the whole batch does."""

import os
import re
import shutil
import subprocess
import sys

import torch

from seqlm.nn.checkpoint import load_tensors

ARGS = [
    "--data",
    "synthetic:train_tokens=6000,valid_tokens=600,test_tokens=600",
    "--model",
    "lstm",
    "--embed",
    "12",
    "--hidden",
    "16",
    "--layers",
    "2",
    "--batch-size",
    "8",
    "--bptt",
    "10",
    "--optimizer",
    "adamw",
    "--lr",
    "0.01",
    "--log-every",
    "2",
    "--checkpoint-every",
    "100",
    "--eval-every",
    "1000",
    "--threads",
    "1",
    "--json",
]


def train(processes: int, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "seqlm", "train"]
    if processes > 1:
        cmd[1:2] = [
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(processes),
            "--standalone",
            "-m",
        ]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=240)
    first = done.stderr
    lost_port = re.search(r"(?i)address already in use|Rendezvous\w*Error", first)
    if done.returncode != 0 and processes > 1 and "--resume" not in args and lost_port:
        # torchrun's standalone rendezvous can lose a race for its port; once more, into a
        # clean directory (any other failure is seqlm's and fails the test)
        shutil.rmtree(args[args.index("--out") + 1], ignore_errors=True)
        done = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, f"{first[-6000:]}\n--- retry:\n{done.stderr[-6000:]}"


def weights(out) -> dict[str, torch.Tensor]:
    tensors = load_tensors(out / "trainer.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith(("model.", "hidden."))}


def test_two_ranks_with_half_the_batch_each_equal_one_process(tmp_path):
    train(1, *ARGS, "--max-steps", "6", "--out", str(tmp_path / "one"))
    train(2, *ARGS, "--max-steps", "6", "--out", str(tmp_path / "two"))
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert set(one) == set(two) and any(k.startswith("hidden.") for k in one)
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=2e-5, rtol=1e-4, msg=name)
    # resume under DDP: stop at 3 steps, continue to 6, end where the straight run ended
    train(2, *ARGS, "--max-steps", "3", "--out", str(tmp_path / "split"))
    train(2, "--resume", str(tmp_path / "split"), "--max-steps", "6", "--json")
    split = weights(tmp_path / "split")
    for name in one:
        torch.testing.assert_close(split[name], two[name], atol=2e-5, rtol=1e-4, msg=name)
