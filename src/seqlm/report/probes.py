"""Report sections for the long-range lab: they appear when the report's settings carry
the lab's results (`settings["lab"]`, from `seqlm.probe.lab.run_lab`)."""

from __future__ import annotations

import base64
import html
import math

from seqlm.probe import plots
from seqlm.report.page import ReportContext, Section, register_section


def _images(paths: list[str]) -> str:
    pngs = [p for p in paths if p.endswith(".png")]
    return "".join(f'<img alt="{html.escape(p)}" src="data:image/png;base64,'
                   f'{base64.b64encode(open(p, "rb").read()).decode()}">' for p in pngs)  # fmt: skip


def _names(paths: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1].rsplit(".", 1)[0] for p in paths if p.endswith(".png")]


def _lab(ctx: ReportContext, key: str):
    return (ctx.settings.get("lab") or {}).get(key)


@register_section
def gradients_section(ctx: ReportContext) -> Section | None:
    results = _lab(ctx, "gradients")
    if not results:
        return None
    paths = plots.plot_gradient_flow(results, ctx.out)
    rates = "; ".join(f"{r['label']}: {r['hidden_decay_per_step']:+.3f} decades per step"
                      for r in results)  # fmt: skip
    text = (f"<p>Norm of ∂loss<sub>t</sub>/∂h<sub>t−k</sub> by distance k, averaged over "
            f"windows of the test text ({html.escape(rates)}).</p>")  # fmt: skip
    return Section("Gradient flow", text + _images(paths), _names(paths))


@register_section
def context_section(ctx: ReportContext) -> Section | None:
    results = _lab(ctx, "context")
    if not results:
        return None
    paths = plots.plot_context(results, ctx.out)
    eff = "; ".join(f"{r['label']}: {r['effective_context']}" for r in results)
    text = (
        f"<p>Loss on the same target tokens when each model sees only the last k tokens. "
        f"Effective context (loss within 1% of the full-context loss): {html.escape(eff)}.</p>"
    )
    return Section("Context ablation", text + _images(paths), _names(paths))


@register_section
def dependency_section(ctx: ReportContext) -> Section | None:
    results = _lab(ctx, "dependency")
    if not results:
        return None
    paths = plots.plot_dependency(results, ctx.out)
    text = (
        "<p>Loss on tokens fixed by a token far back (verb agreement, closing brackets) by "
        "the distance to that token, against the entropy floor on the same tokens.</p>"
    )
    return Section("Long-range dependencies", text + _images(paths), _names(paths))


@register_section
def memory_section(ctx: ReportContext) -> Section | None:
    results = _lab(ctx, "memory")
    if not results:
        return None
    paths = plots.plot_memory(results, ctx.out)
    rows = "".join(f"<tr><td>{r['task']}</td><td>{r['cell']}</td><td>{r['longest_solved'] or '—'}"
                   "</td></tr>" for r in results)  # fmt: skip
    text = (
        "<p>Adding and copy tasks (Hochreiter &amp; Schmidhuber 1997): longest T solved.</p>"
        f"<table><tr><th>task</th><th>cell</th><th>longest T solved</th></tr>{rows}</table>"
    )
    return Section("Memory tasks", text + _images(paths), _names(paths))


@register_section
def forget_bias_section(ctx: ReportContext) -> Section | None:
    result = _lab(ctx, "forget_bias")
    if not result:
        return None
    paths = plots.plot_forget_bias(result, ctx.out)
    cells = []
    for run in result["runs"]:
        mse = ", ".join(f"T={r['length']}: {r['mse']:.4f}" for r in run["rows"]
                        if math.isfinite(r["mse"]))  # fmt: skip
        cells.append(f"bias {run['forget_bias']:g}: {mse}")
    text = (
        f"<p>The same LSTM on the adding task; held-out MSE — {html.escape('; '.join(cells))}.</p>"
    )
    return Section("Forget-gate bias", text + _images(paths), _names(paths))
