"""The long-range lab in one call: every probe on a set of models, for the report."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from seqlm.data.corpus import Corpus
from seqlm.interface import LanguageModel
from seqlm.probe.context import context_ablation, dependency_scores, grid_for
from seqlm.probe.plots import common_curve, main_curve

if TYPE_CHECKING:
    from seqlm.probe.memory import MemorySettings

log = logging.getLogger(__name__)


def run_lab(
    corpus: Corpus,
    models: dict[str, LanguageModel],
    split: str = "test",
    distance: int = 50,
    samples: int = 400,
    memory_cells: tuple[str, ...] = (),
    memory_lengths: tuple[int, ...] = (10, 20, 50, 100, 200),
    forget_bias_lengths: tuple[int, ...] = (),
    memory_settings: MemorySettings | None = None,
    log_probs: dict | None = None,
) -> dict:
    """Gradient flow (neural models), context ablation, dependency scoring (when the
    corpus has dependency marks) and, if asked, the memory tasks and forget-bias study.
    `log_probs`: {name: the model's scores of `split`}, when already computed."""
    # here, not at the top: the report reads this module's helpers without loading torch
    from seqlm.probe.gradients import gradient_flow
    from seqlm.probe.memory import forget_bias_study, memory_ladder

    log_probs = log_probs or {}
    lab: dict = {"gradients": [], "context": [], "dependency": []}
    ks = grid_for(list(models.values()))
    for name, model in models.items():
        if model.kind != "ngram":
            log.info("gradient flow: %s", name)
            r = gradient_flow(model, corpus[split], distance=distance, windows=32)
            lab["gradients"].append({**r, "label": name})
        log.info("context ablation: %s", name)
        scores = log_probs.get(name)
        lab["context"].append(
            {
                **context_ablation(model, corpus, split, ks, samples=samples, log_probs=scores),
                "label": name,
            }
        )
        if split in corpus.marks:
            lab["dependency"].append(
                {**dependency_scores(model, corpus, split, log_probs=scores), "label": name}
            )
    if memory_cells:
        lab["memory"] = []
        for task in ("adding", "copy"):
            for cell in memory_cells:
                r = memory_ladder(
                    task,
                    cell,
                    memory_lengths,
                    memory_settings,
                    progress=lambda row: log.info(memory_line(row)),
                )
                lab["memory"].append(r)
    if forget_bias_lengths:
        log.info("forget-gate bias study")
        lab["forget_bias"] = forget_bias_study(
            "adding", forget_bias_lengths, settings=memory_settings
        )
    return {k: v for k, v in lab.items() if v}


def memory_line(row: dict) -> str:
    metric = f"MSE {row['mse']:.4f}" if "mse" in row else f"accuracy {row['accuracy']:.3f}"
    state = "solved" if row["solved"] else "not solved"
    return (
        f"{row['task']:<7} {row['cell']:<5} T={row['length']:<5} {metric}  {state} after "
        f"{row['steps']} steps ({row['seconds']:.1f} s)"
    )


def lab_lines(lab: dict) -> list[str]:
    """One line per probe, from the measured numbers (the terminal's summary of the lab)."""
    lines = []
    if lab.get("gradients"):
        mixed = common_curve(lab["gradients"]) == "input"  # some have no h: name each
        lines.append(
            "gradient decay per step back: "
            + ", ".join(
                f"{r['label']} {main_curve(r)[2]:+.3f} decades"
                + (f" (∂L/∂{main_curve(r)[0]})" if mixed else "")
                for r in lab["gradients"]
            )
        )
    if lab.get("context"):
        lines.append(
            "effective context (tokens): "
            + ", ".join(f"{r['label']} {r['effective_context']}" for r in lab["context"])
        )
    for r in lab.get("dependency", []):
        gap = far_gap(r)
        if gap is not None:
            lines.append(
                f"{r['label']}: {gap:+.3f} nats over the floor on tokens fixed "
                f"{FAR} or more tokens back"
            )
    return lines


FAR = 8  # "long range": a token fixed by one at least this far back


def far_gap(dependency: dict) -> float | None:
    """Mean loss above the floor on the tokens fixed FAR or more tokens back."""
    far = [row for rows in dependency["kinds"].values() for row in rows if row["from"] >= FAR]
    if not far:
        return None
    total = sum(row["count"] for row in far)
    return sum((row["loss"] - row["floor"]) * row["count"] for row in far) / total
