"""The HTML report in a real browser (headless Chromium, no network)."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from seqlm.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=5000"]  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")
def test_report_renders_offline_in_headless_chromium(tmp_path, capsys):
    code = main(["compare", "synthetic:train_tokens=20000,valid_tokens=3000,test_tokens=3000",
                 "--models", "ngram:3,rnn", "--budget", "3s", "--from", str(tmp_path / "m"),
                 "--report", str(tmp_path / "r"), "--probes"])  # fmt: skip
    capsys.readouterr()
    assert code == 0
    page = (tmp_path / "r" / "report.html").as_uri()
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page], capture_output=True, text=True,
                         timeout=120).stdout  # fmt: skip
    figures = re.search(r'data-figures="(\d+)"', dom)
    rendered = re.search(r'data-figures-rendered="(\d+)"', dom)
    assert figures and rendered and int(figures.group(1)) >= 5  # curves, histogram, 3 probes
    assert rendered.group(1) == figures.group(1)  # every plot decoded with a real size
    assert "3-gram" in dom and "<pre>" in dom and "Samples" in dom
    for section in ("Gradient flow", "Context ablation", "Long-range dependencies"):
        assert section in dom  # the lab's sections join the page
    shot = tmp_path / "shot.png"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1200,2400", page],
                   capture_output=True, timeout=120)  # fmt: skip
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 1000 and np.std(pixels) > 0.05  # not a blank page
