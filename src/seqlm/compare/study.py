"""A comparison study, as `seqlm compare` and `seqlm demo` run it: train and rank the
models (`seqlm.compare.run`), then the long-range lab (`seqlm.probe`) and the HTML report
(`seqlm.report`). It sits above all three, so none of them imports another's caller."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from seqlm.compare.run import (
    Budget,
    ModelSpec,
    compare,
    format_table,
    scoring_threads,
    summary_sentences,
)
from seqlm.data.corpus import Corpus


def run_comparison(
    corpus: Corpus,
    specs: list[ModelSpec],
    budget: Budget,
    root: Path | None = None,
    report: str | Path | None = None,
    probes: bool = False,
    argv: list[str] | None = None,
    progress: bool = False,
    seeds: int = 1,
    retrain: bool = False,
    neural_overrides: dict | None = None,
) -> dict:
    """`compare`, then (if asked) the long-range lab and the HTML report: what
    `seqlm compare` and `seqlm demo` print, with the table and summary as text."""
    from seqlm.io import check_writable_dir
    from seqlm.report import write_report

    if report:
        check_writable_dir(report)
    with scoring_threads(
        1 if budget.tokens else None
    ):  # the lab's numbers too, the same everywhere
        result, models, losses = compare(
            corpus, specs, root, budget, neural_overrides, progress, seeds, retrain
        )
        sentences = summary_sentences(result)
        lab = None
        if probes:
            from seqlm.probe.lab import lab_lines, run_lab

            first_seed = {name: -np.atleast_2d(loss)[0] for name, loss in losses.items()}
            lab = run_lab(corpus, models, log_probs=first_seed)
            result["lab_summary"] = lab_lines(lab)
            sentences += "\n" + "\n".join(result["lab_summary"])
        if report:
            page = write_report(result, models, losses, corpus, report, {"argv": argv, "lab": lab})
            result["report"] = str(page)
    result["summary"] = sentences
    result["table"] = format_table(result)
    # the explorer on these models: every token coloured by each model's surprisal
    result["explore"] = "seqlm serve " + " ".join(shlex.quote(r["path"]) for r in result["rows"])
    return result
