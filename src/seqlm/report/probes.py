"""Report sections for the long-range lab: they appear when the report's settings carry
the lab's results (`settings["lab"]`, from `seqlm.probe.lab.run_lab`)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable

from seqlm.probe import plots
from seqlm.report.page import ReportContext, Section, register_section


def _images(paths: list[str]) -> str:
    pngs = [p for p in paths if p.endswith(".png")]
    return "".join(f'<img alt="{html.escape(p)}" src="data:image/png;base64,'
                   f'{base64.b64encode(open(p, "rb").read()).decode()}">' for p in pngs)  # fmt: skip


def _names(paths: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1].rsplit(".", 1)[0] for p in paths if p.endswith(".png")]


def _lab_section(key: str, title: str, plot: Callable, describe: Callable[[object], str]) -> None:
    """Register a section that draws `lab[key]` with `plot` under a text from `describe`."""

    def section(ctx: ReportContext) -> Section | None:
        results = (ctx.settings.get("lab") or {}).get(key)
        if not results:
            return None
        paths = plot(results, ctx.out)
        return Section(title, describe(results) + _images(paths), _names(paths))

    section.__name__ = f"{key}_section"
    register_section(section)


def _gradients(results: list[dict]) -> str:
    rates = "; ".join(f"{r['label']}: {r['hidden_decay_per_step']:+.3f} decades per step"
                      for r in results)  # fmt: skip
    return (f"<p>Norm of ∂loss<sub>t</sub>/∂h<sub>t−k</sub> by distance k, averaged over "
            f"windows of the test text ({html.escape(rates)}).</p>")  # fmt: skip


def _context(results: list[dict]) -> str:
    eff = "; ".join(f"{r['label']}: {r['effective_context']}" for r in results)
    return (
        f"<p>Loss on the same target tokens when each model sees only the last k tokens. "
        f"Effective context (loss within 1% of the full-context loss): {html.escape(eff)}.</p>"
    )


def _dependency(results: list[dict]) -> str:
    return (
        "<p>Loss on tokens fixed by a token far back (verb agreement, closing brackets) by "
        "the distance to that token, against the entropy floor on the same tokens.</p>"
    )


def _memory(results: list[dict]) -> str:
    rows = "".join(f"<tr><td>{r['task']}</td><td>{r['cell']}</td><td>{r['longest_solved'] or '—'}"
                   "</td></tr>" for r in results)  # fmt: skip
    return (
        "<p>Adding and copy tasks (Hochreiter &amp; Schmidhuber 1997): longest T solved.</p>"
        f"<table><tr><th>task</th><th>cell</th><th>longest T solved</th></tr>{rows}</table>"
    )


def _forget_bias(result: dict) -> str:
    cells = []
    for run in result["runs"]:
        mse = ", ".join(f"T={r['length']}: {r['mse']:.4f}" for r in run["rows"]
                        if math.isfinite(r["mse"]))  # fmt: skip
        cells.append(f"bias {run['forget_bias']:g}: {mse}")
    return (
        f"<p>The same LSTM on the adding task; held-out MSE — {html.escape('; '.join(cells))}.</p>"
    )


_lab_section("gradients", "Gradient flow", plots.plot_gradient_flow, _gradients)
_lab_section("context", "Context ablation", plots.plot_context, _context)
_lab_section("dependency", "Long-range dependencies", plots.plot_dependency, _dependency)
_lab_section("memory", "Memory tasks", plots.plot_memory, _memory)
_lab_section("forget_bias", "Forget-gate bias", plots.plot_forget_bias, _forget_bias)
