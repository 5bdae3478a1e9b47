"""The HTML report in a real browser (headless Chromium, no network): every figure decodes,
each model keeps one colour across figures, every lab section explains itself, and nothing
sticks out of a 420-pixel-wide (phone) window."""

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import SMALL

from seqlm.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]
LAB = ("gradient-flow", "context-ablation", "long-range-dependencies")
PARTS = (
    "What was measured",
    "How to read the figure",
    "What the notes predict",
    "What this run shows",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run installs it)")
    tmp = tmp_path_factory.mktemp("browser")
    code = main(
        [
            "compare",
            SMALL,
            "--models",
            "ngram:3,rnn,lstm",
            "--budget",
            "20k",
            "--from",
            str(tmp / "m"),
            "--report",
            str(tmp / "r"),
            "--probes",
            "--json",
        ]
    )
    assert code == 0
    return tmp, (tmp / "r" / "report.html").as_uri()


def browse(tmp, page: str, width: int, *extra: str) -> str:
    argv = [
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={tmp / 'profile'}",
        f"--window-size={width},2400",
        *extra,
        page,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout


def test_report_renders_offline_with_one_colour_per_model(report, capsys):
    tmp, page = report
    capsys.readouterr()
    dom = browse(tmp, page, 1200, "--dump-dom")
    figures = re.search(r'data-figures="(\d+)"', dom)
    rendered = re.search(r'data-figures-rendered="(\d+)"', dom)
    assert figures and rendered and int(figures.group(1)) >= 5  # curves, histogram, 3 probes
    assert rendered.group(1) == figures.group(1)  # every plot decoded with a real size
    assert "3-gram" in dom and "<table" in dom and "Samples" in dom
    # the colours each figure was drawn with, read back from its artists
    drawn = [json.loads(html.unescape(m)) for m in re.findall(r'data-colours="([^"]*)"', dom)]
    seen: dict[str, set] = {}
    for figure in drawn:
        for model, colour in figure.items():
            seen.setdefault(model, set()).add(colour)
    for model in ("3-gram", "rnn", "lstm"):
        assert sum(model in f for f in drawn) >= 3, model  # the model is in several figures
        assert len(seen[model]) == 1, (model, seen[model])  # ... always in one colour
    assert len({c for m in ("3-gram", "rnn", "lstm") for c in seen[m]}) == 3  # told apart
    shot = tmp / "shot.png"
    browse(tmp, page, 1200, f"--screenshot={shot}")
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 1000 and np.std(pixels) > 0.05  # not a blank page


def test_every_lab_section_explains_itself_with_numbers_from_the_run(report):
    tmp, page = report
    text = (tmp / "r" / "report.html").read_text()
    result = json.loads((tmp / "r" / "report.json").read_text())
    for section in LAB:
        body = re.search(rf'<section id="{section}">(.*?)</section>', text, re.S)
        assert body, section
        explanation = re.search(r'<div class="explain">(.*?)</div>', body.group(1), re.S)
        assert explanation, section
        for part in PARTS:
            assert f"<h3>{part}</h3>" in explanation.group(1), (section, part)
    # "what this run shows" quotes the run's own figures
    for line in result["lab_summary"]:
        for number in re.findall(r"[+-]\d+\.\d{3}", line):
            assert number in text, number


# Headless Chromium will not make a window narrower than ~500 px, so the page is laid out
# in a 420-px iframe and its own checks (CHECK_SCRIPT) are copied out to the outer page.
PHONE = """<!doctype html><body style="margin:0"><iframe id=f src="report.html"
style="width:420px;height:2400px;border:0"></iframe><script>f.onload = () => {
  Object.assign(document.body.dataset, f.contentDocument.body.dataset); };</script></body>"""


def test_nothing_overflows_a_phone_width_window(report):
    tmp, page = report
    phone = tmp / "r" / "phone.html"
    phone.write_text(PHONE)
    dom = browse(tmp, phone.as_uri(), 1200, "--allow-file-access-from-files", "--dump-dom")
    viewport = int(re.search(r'data-viewport="(\d+)"', dom).group(1))
    assert viewport <= 420
    assert int(re.search(r'data-page-width="(\d+)"', dom).group(1)) <= viewport
    assert re.search(r'data-overflowing="([^"]*)"', dom).group(1) == ""
