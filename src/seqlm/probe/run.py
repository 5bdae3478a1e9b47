"""The probes as `seqlm probe` runs them: which models, which corpus, one line per result.

Each probe function returns plain data; this module picks the models (saved ones, or
`fresh:CELL` untrained ones), the corpus (the one the first saved model was
trained on, else the synthetic corpus), runs one probe over every model, writes its JSON
and figures, and words the result as lines for the terminal.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from seqlm.data.corpus import Corpus, load_corpus
from seqlm.data.spec import CorpusSpec
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError, atomic_write_text, check_writable_dir
from seqlm.probe.plots import main_curve

log = logging.getLogger(__name__)
MODEL_PROBES = ("gradients", "context", "dependency", "gates")


def check_model_kinds(probe: str, specs: list[str]) -> None:
    """Refuse a model a probe cannot read before any data is loaded."""
    from seqlm.loading import model_config
    from seqlm.nn.config import CELLS

    gated = ("lstm", "slstm", "mlstm")  # seqlm.probe.gates.GATED, without loading torch
    for spec in specs:
        kind = spec.split(":", 1)[1] if spec.startswith("fresh:") else model_config(spec)["kind"]
        if probe == "gradients" and kind == "ngram":
            raise SeqlmError(f"{spec}: an n-gram has no gradients")
        if probe == "gates" and kind not in gated:
            what = "an n-gram" if kind == "ngram" else f"a {kind}"
            raise SeqlmError(
                f"{spec}: gate probes need an {', '.join(gated)} model (this is {what})"
            )
        if spec.startswith("fresh:") and kind not in CELLS:
            raise SeqlmError(
                f"unknown fresh model {spec!r} (fresh:CELL, CELL one of {', '.join(CELLS)})"
            )


def probe_corpus(specs: list[str], given: CorpusSpec | None) -> Corpus:
    """`given`, else the corpus the first saved model was trained on, else synthetic."""
    from seqlm.loading import trained_on

    if given is None:
        saved = [s for s in specs if not s.startswith("fresh:")]
        given = (trained_on(saved[0]) if saved else None) or CorpusSpec("synthetic")
    return load_corpus(given)


def probe_models(
    specs: list[str], corpus: Corpus, seed: int = 0
) -> list[tuple[str, LanguageModel]]:
    """Saved models by path, or fresh:CELL (untrained, small: fresh:lstm, fresh:mingru)."""
    from seqlm.loading import load
    from seqlm.nn import ModelConfig
    from seqlm.nn.build import build_model

    models = []
    for spec in specs:
        if spec.startswith("fresh:"):
            cell = spec.split(":", 1)[1]
            config = ModelConfig(
                cell=cell, vocab_size=len(corpus.vocab), embed=64, hidden=128, layers=1
            )
            model = build_model(config, corpus.vocab, "reference")
            model.reset_parameters(seed)
            models.append((f"{cell} (untrained)", model))
        else:
            models.append((Path(spec).name, load(spec)))
    return models


def run_model_probe(
    probe: str, specs: list[str], corpus_spec: CorpusSpec | None, out: str, options: dict
) -> tuple[list[dict], list[str], list[str]]:
    """(results, lines, figures) of one probe over the models; JSON and plots go to `out`."""
    from seqlm.probe import context_ablation, dependency_scores, gradient_flow, plots

    if not specs:
        raise SeqlmError(f"probe {probe} needs at least one MODEL")
    if probe == "gates" and len(specs) != 1:
        raise SeqlmError("probe gates takes one MODEL")
    check_model_kinds(probe, specs)
    if any(s.startswith("fresh:") for s in specs) and corpus_spec is None:
        raise SeqlmError("fresh models need --data CORPUS")
    corpus = probe_corpus(specs, corpus_spec)
    folder = check_writable_dir(out)
    results, lines, figures = [], [], []
    split, seed = options["split"], options["seed"]
    for label, model in probe_models(specs, corpus, seed):
        log.info("%s: %s", probe, label)
        try:
            if probe == "gates":
                from seqlm.probe.gates import gates_report

                r, figures, lines = gates_report(model, label, corpus, folder, options)
            elif probe == "gradients":
                r = gradient_flow(
                    model, corpus[split], options["distance"], options["windows"], seed
                )
                lines.append(describe_gradients(label, r))
            elif probe == "context":
                r = context_ablation(
                    model,
                    corpus,
                    split,
                    samples=options["samples"],
                    shuffle_beyond=options["shuffle_beyond"],
                    seed=seed,
                )
                lines.append(describe_context(label, r))
            else:
                r = dependency_scores(model, corpus, split)
                lines += describe_dependency(label, r)
        except ValueError as e:
            raise SeqlmError(str(e)) from None
        results.append({**r, "label": label})
    if probe != "gates":
        plot = {
            "gradients": plots.plot_gradient_flow,
            "context": plots.plot_context,
            "dependency": plots.plot_dependency,
        }[probe]
        figures = plot(results, folder)
    atomic_write_text(folder / f"{probe}.json", json.dumps(results, indent=2, default=str))
    lines.append(f"wrote {folder}/{probe}.json, " + ", ".join(Path(f).name for f in figures))
    return results, lines, figures


def describe_gradients(label: str, r: dict) -> str:
    cell = f", cell {r['cell_decay_per_step']:+.4f}" if "cell_decay_per_step" in r else ""
    symbol, _, decay = main_curve(r)
    what = {"h": "hidden", "x": "input"}[symbol]
    return f"{label:<22} {what} {decay:+.4f} decades/step{cell}"


def describe_context(label: str, r: dict) -> str:
    losses = ", ".join(f"{k}:{v:.3f}" for k, v in zip(r["k"], r["loss"], strict=True))
    return (
        f"{label:<22} effective context {r['effective_context']}; loss by k: {losses}, "
        f"all:{r['full_context_loss']:.3f}"
    )


def describe_dependency(label: str, r: dict) -> list[str]:
    return [
        f"{label:<22} {kind}: "
        + ", ".join(f"d>={row['from']}: {row['loss'] - row['floor']:+.3f}" for row in rows)
        + " nats over the floor"
        for kind, rows in r["kinds"].items()
    ]


def run_memory_probe(
    probe: str,
    cells: list[str],
    task: str,
    lengths: tuple[int, ...] | None,
    steps: int | None,
    seed: int,
    out: str,
    show=None,
) -> tuple[list[dict], list[str], list[str]]:
    """The adding/copy tasks by length (memory) or forget-gate bias 0 vs 1 (forget-bias)."""
    from seqlm.nn.config import CELLS
    from seqlm.probe.lab import memory_line
    from seqlm.probe.memory import MemorySettings, forget_bias_study, memory_ladder
    from seqlm.probe.plots import plot_forget_bias, plot_memory

    tasks = ("adding", "copy") if task == "both" else (task,)
    settings = MemorySettings(seed=seed, **({"steps": steps} if steps else {}))
    folder = check_writable_dir(out)
    show = show or (lambda row: log.info(memory_line(row)))
    results, lines, figures = [], [], []
    if probe == "memory":
        for cell in cells:
            if cell not in CELLS:
                raise SeqlmError(f"unknown --cell {cell!r} (choose {', '.join(CELLS)})")
        for name in tasks:
            for cell in cells:
                r = memory_ladder(
                    name, cell, lengths or (10, 20, 50, 100, 200), settings, progress=show
                )
                lines.append(f"{name}: {cell} solves up to T = {r['longest_solved'] or 'none'}")
                results.append(r)
        figures = plot_memory(results, folder)
    else:
        for name in tasks:
            r = forget_bias_study(name, lengths or (50, 100), settings=settings)
            for run in r["runs"]:
                for row in run["rows"]:
                    show({**row, "cell": f"b={run['forget_bias']:g}"})
            results.append(r)
            figures = plot_forget_bias(r, folder / name)
    atomic_write_text(folder / f"{probe}.json", json.dumps(results, indent=2))
    lines.append(f"wrote {folder}/{probe}.json, " + ", ".join(Path(f).name for f in figures))
    return results, lines, figures
