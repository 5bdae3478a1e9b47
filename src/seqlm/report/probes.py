"""Report sections for the long-range lab: they appear when the report's settings carry
the lab's results (`settings["lab"]`, from `seqlm.probe.lab.run_lab`)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path

from seqlm.probe import plots
from seqlm.probe.lab import FAR, far_gap
from seqlm.probe.plots import common_curve, main_curve
from seqlm.report.page import ReportContext, Section, image


def _images(paths: list[str]) -> str:
    return "".join(image(Path(p)) for p in paths if p.endswith(".png"))


def _names(paths: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1].rsplit(".", 1)[0] for p in paths if p.endswith(".png")]


def explain(measured: str, read: str, predicted: str, shown: str) -> str:
    """The four parts every lab section explains, for a reader of the lecture notes only.
    Arguments are HTML (callers escape what came from outside)."""
    parts = [
        ("What was measured", measured),
        ("How to read the figure", read),
        ("What the notes predict", predicted),
        ("What this run shows", shown),
    ]
    return (
        '<div class="explain">'
        + "".join(f"<h3>{title}</h3><p>{text}</p>" for title, text in parts)
        + "</div>"
    )


def _lab_section(
    key: str, title: str, plot: Callable, describe: Callable[..., str]
) -> Callable[[ReportContext], Section | None]:
    """A section that draws `lab[key]` with `plot` under a text from `describe` (given the
    results and the comparison's result)."""

    def section(ctx: ReportContext) -> Section | None:
        results = (ctx.settings.get("lab") or {}).get(key)
        if not results:
            return None
        paths = plot(results, ctx.out)
        return Section(title, describe(results, ctx.result) + _images(paths), _names(paths))

    section.__name__ = f"{key}_section"
    return section


def _e(value: object) -> str:
    return html.escape(str(value))


def _steps_to_tenfold(decades: float) -> str:
    return f"10× smaller every {-1 / decades:.0f} steps" if decades < 0 else "not shrinking"


def _gradients(results: list[dict], result: dict) -> str:
    key = common_curve(results)
    ordered = sorted(results, key=lambda r: main_curve(r)[2])
    rates = "; ".join(
        f"{_e(r['label'])}: ∂L/∂{main_curve(r)[0]} {main_curve(r)[2]:+.3f} "
        f"decades/step ({_steps_to_tenfold(main_curve(r)[2])})"
        for r in ordered
    )
    cells = [r for r in results if "cell_decay_per_step" in r]
    cell = "".join(
        f" Through the {_e(r['label'])}'s cell state C: {r['cell_decay_per_step']:+.3f} "
        "decades/step."
        for r in cells
    )
    fastest, slowest = ordered[0], ordered[-1]
    shown = (
        f"{rates}.{cell} Fastest decay: {_e(fastest['label'])}; slowest: "
        f"{_e(slowest['label'])}. The slope depends on the weights a model learned as "
        "well as on its cell: a trained model may learn to let go of what it no longer "
        "needs. Untrained, the cells differ in a way one can predict: a GRU's update "
        "gate starts near σ(0) = 0.5, so about half of h (and of its gradient) is "
        "replaced every step, while an untrained RNN's W_hh (entries uniform in ±1/√H) "
        "shrinks a vector by about 1/√3 ≈ 0.58 per step: the untrained GRU decays "
        "slightly faster than the untrained RNN (try <code>seqlm probe gradients "
        "fresh:rnn fresh:gru --data synthetic</code>)."
    )
    if key == "input":
        shown += (
            " Some of these models carry no h from step to step (the Transformer attends "
            "to its inputs; the mLSTM keeps its memory in a matrix C): they are measured "
            "at their input embeddings, ∂L<sub>t</sub>/∂x<sub>t−k</sub>, the others at "
            "their hidden state; every model's input curve is in report.json."
        )
    return explain(
        "How much the loss at step t changes with the hidden state k steps earlier: the norm "
        "of ∂L<sub>t</sub>/∂h<sub>t−k</sub>, averaged over windows of the test text, for k "
        "up to the distance on the x axis. It is the training signal that reaches k tokens "
        "back.",
        "The y axis is logarithmic, so steady shrinking is a straight line. Its slope is "
        "given in <i>decades per step</i>: −0.05 decades/step means the gradient is "
        "multiplied by 10<sup>−0.05</sup> ≈ 0.89 at each step back, i.e. it is 10× smaller "
        "every 20 steps. Closer to 0 is better: the model can still learn from tokens far "
        "back. Dashed (LSTM): the same through the cell state C.",
        "The plain RNN's gradient vanishes: each step back multiplies it by W<sub>hh</sub> "
        "and tanh′ ≤ 1. The LSTM's cell state is updated by addition "
        "(C<sub>t</sub> = f<sub>t</sub> ⊙ C<sub>t−1</sub> + i<sub>t</sub> ⊙ C̃<sub>t</sub>), "
        "so its gradient is multiplied only by the forget gate and should fade slowest.",
        shown,
    )


def _context(results: list[dict], result: dict) -> str:
    def at(r: dict, k: int) -> float | None:
        return r["loss"][r["k"].index(k)] if k in r["k"] else None

    eff = "; ".join(f"{_e(r['label'])}: {r['effective_context']}" for r in results)
    notes = []
    for r in results:
        order = r.get("order") or _order(r["label"])
        if order and order > 2 and at(r, order - 1) is not None and at(r, order - 2) is not None:
            notes.append(
                f"The {_e(r['label'])} sees n−1 = {order - 1} tokens; its loss is "
                f"{at(r, order - 2):.3f} nats at k = {order - 2}, {at(r, order - 1):.3f} at "
                f"k = {order - 1} and {r['full_context_loss']:.3f} with the whole past, so its "
                f"effective context is {r['effective_context']}"
                + (
                    " (the last token it can see helps by less than 1%)."
                    if r["effective_context"] < order - 1
                    else "."
                )
            )
    ngrams = [r for r in results if _order(r["label"])]
    neural = [r for r in results if not _order(r["label"])]
    if ngrams and neural and at(ngrams[0], 1) is not None:
        best_n = min(ngrams, key=lambda r: at(r, 1))
        behind = [r for r in neural if at(r, 1) > at(best_n, 1)]
        if behind:
            notes.append(
                f"At k = 1 the {_e(best_n['label'])} scores {at(best_n, 1):.3f} nats and "
                + ", ".join(f"{_e(r['label'])} {at(r, 1):.3f}" for r in behind)
                + ": with one token a count model reads the exact next-token frequencies, "
                "while a recurrent model was trained on long contexts, never on a snippet "
                "cut out of the middle of a sentence."
            )
    prefix = max((r.get("prefix_tokens", 0) for r in results), default=0)
    start = (
        f"Each recurrent model first reads the same neutral prefix ({prefix} tokens of "
        "whole training sentences, unrelated to the targets), so it starts from a state "
        "like those it met in training rather than the all-zero state, which training "
        "shows it only once per epoch."
        if prefix
        else "Recurrent models start from the "
        "all-zero state, which training shows them only once per epoch: that alone "
        "makes them worse at small k."
    )
    return explain(
        f"The loss on the same {results[0]['positions']} test tokens when each model may see "
        f"only the last k tokens before each (k on the x axis), and with the whole past "
        f"(dotted line). {start}",
        "Lower is better. Where a curve flattens, tokens further back stop helping. The "
        "<i>effective context</i> is the smallest k whose loss is within 1% of the "
        "whole-past loss; the grid of k includes n−1 for each n-gram.",
        "An n-gram conditions on n−1 tokens, so its curve is flat after k = n−1; an RNN "
        "conditions on the whole past, so its curve can keep falling with k, and the LSTM "
        "should use the most.",
        f"Effective context (tokens): {eff}. " + " ".join(notes),
    )


def _order(label: str) -> int | None:
    head = label.split("-gram")[0]
    return int(head) if "-gram" in label and head.isdigit() else None


def _dependency(results: list[dict], result: dict) -> str:
    rows = []
    for r in results:
        far = [row for rows_ in r["kinds"].values() for row in rows_ if row["from"] >= FAR]
        gap = far_gap(r)
        if gap is None:
            continue
        count = sum(row["count"] for row in far)
        rows.append(
            (
                gap,
                r["label"],
                f"<tr><td>{_e(r['label'])}</td><td class=num>"
                f"{gap:+.3f}</td><td class=num>{count:,}</td></tr>",
            )
        )
    rows.sort()
    table = (
        '<div class="scroll"><table class="results"><tr><th>model</th><th>nats over the '
        f"floor on tokens fixed {FAR}+ back (lower is better)</th><th>tokens</th></tr>"
        + "".join(row for *_, row in rows)
        + "</table></div>"
    )
    best = _e(rows[0][1]) if rows else "none"
    return (
        explain(
            "The loss on the tokens whose value is fixed by one token far back (a verb agreeing "
            "with its subject across a clause, a bracket closing an opener), by the distance to "
            "that token, next to the entropy floor on exactly those tokens: the loss of the "
            "program that generated the text, which no model can beat.",
            "Lower is better; the black line is the best possible. The space between a model's "
            "line and the floor is what the model failed to carry over that distance.",
            "An n-gram cannot see a token more than n−1 back, so past that distance it can only "
            "guess from frequencies; a recurrent model can carry the fact in its state, the LSTM "
            "furthest.",
            f"Mean loss above the floor on the tokens fixed {FAR} or more tokens back, best "
            f"first (the closest to the floor: {best}):",
        )
        + table
    )


def _memory(results: list[dict], result: dict) -> str:
    rows = "".join(
        f"<tr><td>{_e(r['task'])}</td><td>{_e(r['cell'])}</td>"
        f"<td>{_e(r['longest_solved'] or '—')}</td></tr>"
        for r in results
    )
    return explain(
        "Two synthetic tasks (Hochreiter &amp; Schmidhuber 1997): adding (sum the two marked "
        "numbers of a sequence of length T) and copy (repeat symbols seen T steps earlier); "
        "each cell is trained for every T until it solves the task or runs out of steps.",
        "One panel per task; x: T, the gap between the evidence and the answer; y: held-out "
        "error (adding, lower is better) or accuracy (copy, higher is better); dotted: the "
        "'solved' threshold.",
        "The plain RNN fails first as T grows (vanishing gradients); the LSTM and GRU hold "
        "the fact longest.",
        "Longest T solved per cell is in the table below.",
    ) + (
        '<div class="scroll"><table class="results"><tr><th>task</th><th>cell</th>'
        f"<th>longest T solved</th></tr>{rows}</table></div>"
    )


def _forget_bias(result: dict, _: dict) -> str:
    cells = []
    for run in result["runs"]:
        mse = ", ".join(
            f"T={r['length']}: {r['mse']:.4f}" for r in run["rows"] if math.isfinite(r["mse"])
        )
        cells.append(f"bias {run['forget_bias']:g}: {mse}")
    return explain(
        "The same LSTM trained on the adding task with its forget-gate bias initialised to 0 "
        "and to 1 (Jozefowicz et al. 2015); held-out MSE and the steps it took.",
        "Left: held-out MSE by T (lower is better); right: training steps used (training "
        "stops once solved).",
        "With bias 1 the forget gate starts near σ(1) ≈ 0.73, keeping most of the cell "
        "state, so information and gradients survive longer from the first step.",
        f"Held-out MSE — {_e('; '.join(cells))}.",
    )


LAB_SECTIONS = (
    _lab_section("gradients", "Gradient flow", plots.plot_gradient_flow, _gradients),
    _lab_section("context", "Context ablation", plots.plot_context, _context),
    _lab_section("dependency", "Long-range dependencies", plots.plot_dependency, _dependency),
    _lab_section("memory", "Memory tasks", plots.plot_memory, _memory),
    _lab_section("forget_bias", "Forget-gate bias", plots.plot_forget_bias, _forget_bias),
)
