"""The HTML report of a comparison."""

from __future__ import annotations

import base64
import html
import json
import math
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqlm import __version__
from seqlm.errors import SeqlmError


@dataclass
class Section:
    title: str
    html: str
    figures: list[str] = field(default_factory=list)  # names of PNG/SVG files written


@dataclass
class ReportContext:
    result: dict
    models: dict  # name -> LanguageModel
    losses: dict  # name -> per-token test losses (nats)
    corpus: object
    out: Path
    settings: dict

    def figure(self, fig, name: str) -> str:
        """Save `fig` as NAME.png and NAME.svg; return an <img> with the PNG inlined."""
        png, svg = self.out / f"{name}.png", self.out / f"{name}.svg"
        fig.savefig(png, dpi=110, bbox_inches="tight")
        fig.savefig(svg, bbox_inches="tight")
        data = base64.b64encode(png.read_bytes()).decode()
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'


SECTIONS: list[tuple[int, Callable[[ReportContext], Section | None]]] = []


def register_section(fn=None, *, order: int = 50):
    """Add a section to every report (a function of the context; None leaves it out).
    Sections appear by `order`, then by registration; the environment comes last (100)."""

    def add(fn: Callable[[ReportContext], Section | None]):
        SECTIONS.append((order, fn))
        SECTIONS.sort(key=lambda entry: entry[0])
        return fn

    return add(fn) if fn is not None else add


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@register_section
def table_section(ctx: ReportContext) -> Section:
    from seqlm.report.table import format_table, summary_sentences

    text = format_table(ctx.result)
    return Section("Results", f"<p>{html.escape(summary_sentences(ctx.result))}</p>"
                   f"<pre>{html.escape(text)}</pre>")  # fmt: skip


@register_section
def curves_section(ctx: ReportContext) -> Section | None:
    rows = ctx.result["rows"]
    neural = [r for r in rows if r["history"]]
    if not neural:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for r in neural:
        h = [p for p in r["history"] if p["valid_ppl"] is not None]
        axes[0].plot(
            [p["wall"] / 60 for p in h], [p["valid_ppl"] for p in h], marker="o", label=r["model"]
        )
        axes[1].plot(
            [p["tokens"] / 1e6 for p in h],
            [p["valid_ppl"] for p in h],
            marker="o",
            label=r["model"],
        )
    for r in rows:
        if r["kind"] == "ngram" and r["valid"]["perplexity"]:
            for ax in axes:
                ax.axhline(r["valid"]["perplexity"], linestyle="--", linewidth=1, color="grey")
                ax.text(
                    ax.get_xlim()[0],
                    r["valid"]["perplexity"],
                    f" {r['model']}",
                    va="bottom",
                    fontsize=8,
                )
    floor = ctx.corpus.entropy_floor("valid")
    if floor is not None:
        for ax in axes:
            ax.axhline(math.exp(floor), color="black", linewidth=1.2)
            ax.text(ax.get_xlim()[0], math.exp(floor), " entropy floor", va="top", fontsize=8)
    axes[0].set_xlabel("training time (min)")
    axes[1].set_xlabel("tokens seen (millions)")
    axes[0].set_ylabel("validation perplexity")
    axes[0].set_yscale("log")
    from matplotlib.ticker import ScalarFormatter

    axes[0].yaxis.set_major_formatter(ScalarFormatter())
    axes[0].yaxis.set_minor_formatter(ScalarFormatter())
    axes[0].legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    img = ctx.figure(fig, "learning_curves")
    plt.close(fig)
    return Section("Learning curves", img, ["learning_curves"])


@register_section
def loss_histogram_section(ctx: ReportContext) -> Section:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    first_seed = {name: np.atleast_2d(v)[0] for name, v in ctx.losses.items()}
    finite = [v[np.isfinite(v)] for v in first_seed.values()]
    top = max(float(np.percentile(v, 99.5)) for v in finite if len(v))
    bins = np.linspace(0, max(top, 1e-3), 60)
    for name, values in first_seed.items():
        ax.hist(values[np.isfinite(values)], bins=bins, histtype="step", linewidth=1.5, label=name,
                density=True)  # fmt: skip
    ax.set_xlabel("per-token loss on test (nats)")
    ax.set_ylabel("density")
    ax.legend()
    ax.grid(alpha=0.3)
    img = ctx.figure(fig, "loss_histogram")
    plt.close(fig)
    return Section("Per-token loss", img, ["loss_histogram"])


@register_section
def samples_section(ctx: ReportContext) -> Section:
    from seqlm.data.text import detokenize
    from seqlm.generate import sample

    test = np.asarray(ctx.corpus["test"])
    vocab = ctx.corpus.vocab
    if ctx.corpus.level == "word":
        eos = vocab.stoi["<eos>"]
        starts = [0, *(np.flatnonzero(test == eos)[:40] + 1)][::13][:3]
        prompts = [test[s : s + 2] for s in starts]
        length = 25
    else:
        prompts = [test[s : s + 20] for s in (0, 1000, 5000)]
        length = 150
    parts = []
    for index, prompt in enumerate(prompts):
        text = detokenize(vocab.decode(prompt), ctx.corpus.level)
        parts.append(f"<h3>prompt: <code>{html.escape(text)}</code></h3><ul>")
        for name, model in ctx.models.items():
            ids = model.vocab.encode(vocab.decode(prompt))
            out = list(sample(model, ids, length, temperature=1.0, seed=index))
            cont = html.escape(detokenize(model.vocab.decode(out), ctx.corpus.level))
            cont = cont.replace("\n", " <span class=eol>⏎</span> ")
            parts.append(f"<li><b>{html.escape(name)}</b>: {html.escape(text)} {cont}</li>")
        parts.append("</ul>")
    return Section("Samples (temperature 1; one seed per prompt)", "".join(parts))


@register_section(order=100)
def environment_section(ctx: ReportContext) -> Section:
    import torch

    env = {
        "seqlm": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
        "numpy": np.__version__, "platform": platform.platform(), "cpu threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "command": " ".join(ctx.settings.get("argv", sys.argv)), **ctx.settings.get("env", {}),
    }  # fmt: skip
    ctx.result["environment"] = env
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in env.items()
    )
    return Section("Environment", f"<table>{rows}</table>")


# Counts the figures that decoded (a browser test reads it back from the DOM); no network.
CHECK_SCRIPT = """<script>window.addEventListener('load', () => {
const imgs = [...document.images];
document.body.dataset.figures = imgs.length;
document.body.dataset.figuresRendered = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
});</script>"""

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}img{max-width:100%}
th{text-align:left;padding-right:1em;vertical-align:top}h2{border-bottom:1px solid #ddd}.eol{color:#999}"""


def write_report(result: dict, models: dict, losses: dict, corpus, out: str | Path,
                 settings: dict | None = None) -> Path:  # fmt: skip
    """Write OUT/report.html, OUT/report.json and the figures; return the page's path."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise SeqlmError(f"{out}: cannot write the report there ({e.strerror})") from None
    ctx = ReportContext(result, models, losses, corpus, out, settings or {})
    sections = [s for s in (fn(ctx) for _, fn in SECTIONS) if s is not None]
    body = "".join(f'<section id="{html.escape(s.title.lower().replace(" ", "-"))}">'
                   f"<h2>{html.escape(s.title)}</h2>{s.html}</section>" for s in sections)  # fmt: skip
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>seqlm report: "
            f"{html.escape(result['corpus'])}</title><style>{STYLE}</style></head><body>"
            f"<h1>seqlm: {html.escape(result['corpus'])}</h1>{body}{CHECK_SCRIPT}</body></html>")  # fmt: skip
    (out / "report.html").write_text(page, encoding="utf-8")
    result["figures"] = [f for s in sections for f in s.figures]
    (out / "report.json").write_text(json.dumps(result, indent=2, default=float))
    return out / "report.html"
