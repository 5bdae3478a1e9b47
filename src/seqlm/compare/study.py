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
from seqlm.evaluate.mixture import verdict


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
        result["mixture"] = best_of_both_rows(result, models, corpus)
        sentences = summary_sentences(result)
        if result["mixture"]:
            sentences += "\n" + verdict(result["mixture"])
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
    paths = [r["path"] for r in result["rows"]]
    paths += [result["mixture"]["path"]] if result.get("mixture") else []
    result["explore"] = "seqlm serve " + " ".join(shlex.quote(p) for p in paths)
    return result


def best_of_both_rows(result: dict, models: dict, corpus: Corpus) -> dict | None:
    """The best recurrent model and the best n-gram (by validation loss: the test split
    chooses nothing) mixed with a weight tuned on valid, saved beside the compared models."""
    from seqlm.evaluate.mixture import best_of_both
    from seqlm.io import json_digest

    def best(rows: list[dict]) -> dict | None:
        finite = [r for r in rows if r["valid"].get("nats_per_token") is not None]
        return min(finite, key=lambda r: r["valid"]["nats_per_token"]) if finite else None

    neural = best([r for r in result["rows"] if r["kind"] != "ngram"])
    ngram = best([r for r in result["rows"] if r["kind"] == "ngram"])
    if neural is None or ngram is None:
        return None
    key = json_digest([neural["path"], ngram["path"]], 10)
    out = Path(neural["path"]).parent / f"mixture-{key}"
    mixed = best_of_both(models[neural["model"]], models[ngram["model"]], corpus, out)
    mixed["neural"]["model"], mixed["ngram"]["model"] = neural["model"], ngram["model"]
    return {**mixed, "parameters": neural["parameters"] + ngram["parameters"]}
