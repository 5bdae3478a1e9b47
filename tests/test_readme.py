"""README's Python section runs, and prints what README says it prints."""

import doctest
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the snippets write runs/...
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(README), module_relative=False, optionflags=flags)
    assert result.attempted >= 10 and result.failed == 0
