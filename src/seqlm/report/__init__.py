"""Reports: a self-contained HTML page (no network), its numbers as JSON, plots as PNG+SVG.

The page is a list of sections; `register_section` lets any part of seqlm (the probes,
say) add one without editing the page code.
"""

from seqlm.report import probes as _probes  # noqa: F401  (registers the lab's sections)
from seqlm.report.page import Section, register_section, write_report

__all__ = ["Section", "register_section", "write_report"]
