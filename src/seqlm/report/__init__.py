"""Reports: a self-contained HTML page (no network), its numbers as JSON, plots as PNG+SVG.

The page is the fixed list of sections below, each a function of the report's context that
returns None when it has nothing to show (the lab's sections without the lab's results).
"""

from __future__ import annotations

from pathlib import Path

from seqlm.report.page import CORE_SECTIONS, Section, environment_section, render
from seqlm.report.probes import LAB_SECTIONS

SECTIONS = (*CORE_SECTIONS, *LAB_SECTIONS, environment_section)


def write_report(
    result: dict, models: dict, losses: dict, corpus, out: str | Path, settings: dict | None = None
) -> Path:
    """Write OUT/report.html, OUT/report.json and the figures; return the page's path."""
    return render(SECTIONS, result, models, losses, corpus, out, settings)


__all__ = ["SECTIONS", "Section", "write_report"]
