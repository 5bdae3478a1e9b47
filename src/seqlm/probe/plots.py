"""Figures of the probes (PNG and SVG), one function per probe.

Every model keeps one colour across figures (`seqlm.probe.palette`), legends sit outside
the axes, and each axis names its unit (and says "lower is better" where it applies).
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def colour(label: str) -> str:
    """The model's colour in every figure (imported here: seqlm.report imports this module)."""
    from seqlm.probe.palette import colour as palette_colour

    return palette_colour(label)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out: Path, name: str) -> list[str]:
    """Write NAME.png and NAME.svg under `out` (and NAME.colours.json: the colour each
    model is drawn in), close the figure, return the image paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    from functools import partial

    from seqlm.io import atomic_write, atomic_write_text
    from seqlm.probe.palette import figure_colours

    for path in paths:
        draw = partial(fig.savefig, format=path.suffix[1:], dpi=110, bbox_inches="tight")
        atomic_write(path, draw)
    atomic_write_text(out / f"{name}.colours.json", json.dumps(figure_colours(fig)))
    _pyplot().close(fig)
    return [str(p) for p in paths]


def _tidy(ax, legend: bool = True) -> None:
    """Grid, and the legend beside the axes (never over the data)."""
    ax.grid(alpha=0.3, which="both")
    if legend:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)


def main_curve(result: dict, key: str | None = None) -> tuple[str, list[float], float]:
    """(symbol, norms by distance, decades/step) of the curve a result is ranked by: `key`
    ("hidden" or "input"), else the hidden state's, or the input's for a model whose
    recurrence skips h (mLSTM) or that has no state at all (the Transformer)."""
    key = key or ("hidden" if "hidden" in result else "input")
    symbol = {"hidden": "h", "input": "x"}[key]
    return symbol, result[key], result[f"{key}_decay_per_step"]


def common_curve(results: list[dict]) -> str:
    """The curve every result has: "hidden" when all have one, else "input"."""
    return "hidden" if all("hidden" in r for r in results) else "input"


def plot_gradient_flow(results: list[dict], out: Path) -> list[str]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in results:
        label = r.get("label", r["kind"])
        symbol, norms, decay = main_curve(r)
        line = ax.semilogy(
            r["distance"],
            norms,
            color=colour(label),
            label=f"{label}: ∂L/∂{symbol}  ({decay:+.3f} decades/step)",
        )[0]
        if "cell" in r:
            ax.semilogy(
                r["distance"],
                r["cell"],
                linestyle="--",
                color=line.get_color(),
                label=f"{label}: ∂L/∂C  ({r['cell_decay_per_step']:+.3f} decades/step)",
            )
    ax.set_xlabel("distance k (steps back from the loss)")
    ax.set_ylabel("mean gradient norm ‖∂L_t/∂h_{t−k}‖ or ‖∂L_t/∂x_{t−k}‖ (log scale)")
    ax.set_title("Gradient flow: how far back does the loss reach?")
    _tidy(ax)
    return save(fig, out, "gradient_flow")


def plot_context(results: list[dict], out: Path) -> list[str]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in results:
        label = r.get("label", r["model"])
        eff = r["effective_context"]
        line = ax.plot(
            r["k"],
            r["loss"],
            marker="o",
            color=colour(label),
            label=f"{label} (effective context {eff if eff != math.inf else '> ' + str(max(r['k']))})",
        )[0]
        ax.axhline(r["full_context_loss"], color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("tokens of context the model may see (k); dotted: the whole past")
    ax.set_ylabel("loss on the same targets (nats/token; lower is better)")
    ax.set_title("Context ablation (Khandelwal et al. 2018)")
    _tidy(ax)
    return save(fig, out, "context_ablation")


def plot_dependency(results: list[dict], out: Path) -> list[str]:
    plt = _pyplot()
    kinds = list(results[0]["kinds"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.5), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        floor_drawn = False
        for r in results:
            rows = r["kinds"][kind]
            if not rows:
                continue
            x = [row["from"] for row in rows]
            label = r.get("label", r["model"])
            ax.plot(x, [row["loss"] for row in rows], marker="o", label=label, color=colour(label))
            if not floor_drawn:
                ax.plot(
                    x,
                    [row["floor"] for row in rows],
                    color="black",
                    linewidth=2.5,
                    label="entropy floor (the generator)",
                )
                floor_drawn = True
        ax.set_xscale("log", base=2)
        ax.set_xlabel("dependency distance (tokens back to the determining token)")
        ax.set_ylabel("mean loss on these tokens (nats; lower is better)")
        ax.set_title(f"{kind}: tokens fixed by a token far back")
        _tidy(ax, legend=ax is axes[0][-1])  # one legend, beside the last panel
    return save(fig, out, "dependency_distance")


def _memory_metric(task: str) -> tuple[str, str]:
    return (
        ("mse", "held-out MSE (log scale; lower is better; mean predictor 0.167)")
        if (task == "adding")
        else ("accuracy", "held-out recall accuracy (higher is better)")
    )


def plot_memory(results: list[dict], out: Path) -> list[str]:
    """One panel per task: the held-out metric against the length T, one line per cell."""
    plt = _pyplot()
    tasks = list(dict.fromkeys(r["task"] for r in results))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        metric, label = _memory_metric(task)
        for r in (r for r in results if r["task"] == task):
            rows = r["rows"]
            ax.plot(
                [row["length"] for row in rows],
                [row[metric] for row in rows],
                marker="o",
                color=colour(r["cell"]),
                label=f"{r['cell']} (longest solved: {r['longest_solved'] or 'none'})",
            )
        if task == "adding":
            ax.set_yscale("log")
            ax.axhline(0.01, color="black", linestyle=":", label="solved (MSE 0.01)")
        else:
            ax.axhline(0.95, color="black", linestyle=":", label="solved (95%)")
        ax.set_xscale("log")
        ax.set_xlabel("T: steps between the evidence and the answer")
        ax.set_ylabel(label)
        ax.set_title(f"{task} task")
        _tidy(ax)
    return save(fig, out, "memory")


def plot_forget_bias(result: dict, out: Path) -> list[str]:
    """Held-out metric and training steps used, by T, for each forget-gate bias."""
    plt = _pyplot()
    metric, label = _memory_metric(result["task"])
    fig, (ax, ax_steps) = plt.subplots(1, 2, figsize=(11, 4.2))
    for run in result["runs"]:
        rows = run["rows"]
        x = [row["length"] for row in rows]
        name = f"forget-gate bias {run['forget_bias']:g}"
        ax.plot(x, [row[metric] for row in rows], marker="o", label=name)
        ax_steps.plot(x, [row["steps"] for row in rows], marker="o", label=name)
    if metric == "mse":
        ax.set_yscale("log")
        ax.axhline(0.01, color="black", linestyle=":", label="solved")
    ax.set_ylabel(label)
    ax_steps.set_ylabel("training steps (stops once solved)")
    for a in (ax, ax_steps):
        a.set_xlabel("T")
        _tidy(a)
    fig.suptitle(f"LSTM forget-gate bias on the {result['task']} task")
    return save(fig, out, "forget_bias")


def plot_saturation(result: dict, out: Path, name: str = "LSTM") -> list[str]:
    """Karpathy et al. (2015), fig. 3: each gate unit's time left- vs right-saturated;
    `name`: the model's (LSTM, sLSTM, mLSTM)."""
    plt = _pyplot()
    layers = result["saturation"]
    fig, axes = plt.subplots(1, len(layers), figsize=(4.5 * len(layers), 4.2), squeeze=False)
    for i, (ax, gates) in enumerate(zip(axes[0], layers, strict=True)):
        for gate, gate_colour in zip(gates, ("tab:green", "tab:red", "tab:blue"), strict=True):
            ax.scatter(
                gates[gate]["left"],
                gates[gate]["right"],
                s=8,
                alpha=0.6,
                color=gate_colour,
                label=gate.replace("_", " "),
            )
        ax.plot([0, 1], [1, 0], color="grey", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("fraction of time left-saturated (< 0.1)")
        ax.set_ylabel("fraction of time right-saturated (> 0.9)")
        ax.set_title(f"layer {i + 1}")
        ax.legend(fontsize=8)
    fig.suptitle(f"{name} gate saturation")
    return save(fig, out, "gate_saturation")
