"""The benchmark scripts keep up with the library they drive (they are not run by CI
otherwise, and two of them once called a Trainer signature that no longer existed)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqlm.train import make_config

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))


def test_throughput_script_runs(data_dir):
    env = {**os.environ, "SEQLM_DATA": str(data_dir)}
    out = subprocess.run(
        [sys.executable, str(BENCH / "throughput.py"), "--steps", "20", "--rounds", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for arm in ("plain loop", "seqlm fused", "seqlm reference"):
        assert any(line.startswith(arm) and "tokens/s" in line for line in out.stdout.splitlines())


@pytest.mark.parametrize("arm", ["preset", "no-weight-drop", "no-dropout", "plus-ar-tar"])
def test_ablation_arm_changes_only_its_settings(arm):
    from ablate import ARMS, arm_settings

    def flat(name: str) -> dict:
        return make_config("ptb", overrides=arm_settings(name, 300, 1), preset="ptb").to_flat()

    config, base = flat(arm), flat("preset")
    assert {k for k in config if config[k] != base[k]} == set(ARMS[arm])
    assert all(config[k] == v for k, v in ARMS[arm].items())
    # step-matched: the schedule is laid over the steps, not over a wall-time budget
    assert (config["max_steps"], config["max_minutes"], config["budget_schedule"]) == (
        300,
        0,
        False,
    )
