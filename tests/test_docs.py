"""The documentation stays true: every `>>>` example in docs/*.md (and README.md) runs and
prints what the page says, the performance page is what docs/results/ gives, and the CLI
page names every command."""

import doctest
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [p for p in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))] if ">>> " in p.read_text()]


def test_pages_with_examples_are_found():
    assert {p.name for p in PAGES} >= {
        "python.md",
        "ngram.md",
        "evaltime.md",
        "lab.md",
        "own-text.md",
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write runs/...
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(page), module_relative=False, optionflags=flags)
    assert result.failed == 0
    assert result.attempted >= 5, f"{page.name}: only {result.attempted} examples ran"


def test_performance_page_is_current():
    spec = importlib.util.spec_from_file_location("gen_performance", DOCS / "gen_performance.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    expected = gen.render()
    assert (DOCS / "performance.md").read_text(encoding="utf-8") == expected, (
        "docs/performance.md is stale: run python docs/gen_performance.py"
    )


def _commands(*args: str) -> list[str]:
    """The subcommands `seqlm ARGS --help` lists."""
    out = subprocess.run(
        [sys.executable, "-m", "seqlm", *args, "--help"], capture_output=True, text=True, check=True
    ).stdout
    block = out.split("positional arguments:", 1)[1].split("options:", 1)[0]
    return re.findall(r"^    ([a-z][a-z-]*)", block, re.M)


def test_cli_page_names_every_command():
    page = (DOCS / "cli.md").read_text()
    commands = _commands()
    assert {"train", "eval", "serve"} <= set(commands)
    missing = []
    for command in commands:
        subcommands = _commands(command) if command in ("data", "ngram", "probe") else []
        for sub in subcommands or [""]:
            name = f"seqlm {command} {sub}".strip()
            if not re.search(rf"{re.escape(name)}\b|seqlm {command} [^`\n]*\b{sub}\b", page):
                missing.append(name)
    assert not missing, f"docs/cli.md does not mention: {missing}"


def test_readme_is_the_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "python -m pytest" in readme  # the test command .ci/run executes
    assert "pip install -e '.[serve]'" in readme  # what the demo's last line needs
