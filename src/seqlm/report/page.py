"""The HTML report of a comparison."""

from __future__ import annotations

import base64
import html
import json
import math
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np

from seqlm.io import SeqlmError, atomic_write_text


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
        from seqlm.probe.plots import save

        return image(Path(save(fig, self.out, name)[0]))


def image(png: Path) -> str:
    """<img> with the PNG inlined; `data-colours` carries the colour each model is drawn in
    (from NAME.colours.json, read back from the figure), for the browser test."""
    data = base64.b64encode(png.read_bytes()).decode()
    colours = png.with_name(png.stem + ".colours.json")
    extra = (
        f" data-colours='{html.escape(colours.read_text(), quote=False)}'"
        if colours.exists()
        else ""
    )
    return f'<img alt="{html.escape(png.stem)}"{extra} src="data:image/png;base64,{data}">'


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def table_section(ctx: ReportContext) -> Section:
    from seqlm.report.table import format_table, results_html, summary_sentences

    text = format_table(ctx.result)
    return Section(
        "Results",
        f"<p>{html.escape(summary_sentences(ctx.result))}</p>"
        f"{results_html(ctx.result)}<details><summary>as text</summary>"
        f"<pre>{html.escape(text)}</pre></details>",
    )


def curves_section(ctx: ReportContext) -> Section | None:
    from seqlm.probe.palette import FLOOR, colour

    rows = ctx.result["rows"]
    neural = [r for r in rows if r["history"]]
    if not neural:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for r in neural:
        h = [p for p in r["history"] if p["valid_ppl"] is not None]
        ppl = [p["valid_ppl"] for p in h]
        style = {"marker": "o", "color": colour(r["model"]), "label": r["model"]}
        axes[0].plot([p["wall"] / 60 for p in h], ppl, **style)
        axes[1].plot([p["tokens"] / 1e6 for p in h], ppl, **style)
    for r in rows:  # the n-grams as levels, named in the legend (no labels to collide)
        if r["kind"] == "ngram" and r["valid"]["perplexity"]:
            for ax in axes:
                ax.axhline(
                    r["valid"]["perplexity"],
                    linestyle="--",
                    linewidth=1.2,
                    color=colour(r["model"]),
                    label=f"{r['model']} (no training curve)",
                )
    floor = ctx.corpus.entropy_floor("valid")
    if floor is not None:
        for ax in axes:
            ax.axhline(math.exp(floor), color=FLOOR, linewidth=1.2, label="entropy floor")
    axes[0].set_xlabel("training time (min; depends on the machine)")
    axes[1].set_xlabel("training tokens seen (millions)")
    for ax in axes:
        ax.set_ylabel("validation perplexity (log scale; lower is better)")
        ax.yaxis.set_tick_params(labelleft=True)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_yscale("log")
    from matplotlib.ticker import LogFormatter, MaxNLocator, ScalarFormatter

    axes[0].yaxis.set_major_formatter(ScalarFormatter())
    # label a few minor ticks only (a narrow range, e.g. one validation, has no decade)
    axes[0].yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    for ax in axes:  # from 0, with few ticks: one validation point leaves labels legible
        ax.set_xlim(left=0)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, min_n_ticks=2))
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    fig.tight_layout()
    img = ctx.figure(fig, "learning_curves")
    plt.close(fig)
    text = (
        "<p>Validation perplexity while training (lower is better). Left: against "
        "training time, which depends on the machine; right: against tokens seen, which "
        "does not. Dashed: the n-grams (counted once, no curve)"
        + ("; black: the entropy floor no model can go below" if floor is not None else "")
        + ". First seed of each model.</p>"
    )
    return Section("Learning curves", text + img, ["learning_curves"])


def loss_histogram_section(ctx: ReportContext) -> Section:
    from seqlm.probe.palette import colour

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    first_seed = {name: np.atleast_2d(v)[0] for name, v in ctx.losses.items()}
    finite = [v[np.isfinite(v)] for v in first_seed.values()]
    top = max(float(np.percentile(v, 99.5)) for v in finite if len(v))
    bins = np.linspace(0, max(top, 1e-3), 60)
    styles = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
    for i, (name, values) in enumerate(first_seed.items()):
        ax.hist(
            values[np.isfinite(values)],
            bins=bins,
            histtype="step",
            linewidth=1.8,
            label=name,
            density=True,
            color=colour(name),
            linestyle=styles[i % len(styles)],  # told apart even where colours are close
        )
    ax.set_xlabel("per-token loss on test, −ln P (nats; lower is better)")
    ax.set_ylabel("density (fraction of tokens per nat)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    ax.grid(alpha=0.3)
    img = ctx.figure(fig, "loss_histogram")
    plt.close(fig)
    text = (
        "<p>How the test loss is spread over tokens: mass on the left is tokens the "
        "model found easy. A model that uses more context moves mass from the right "
        "tail (surprises) to the left.</p>"
    )
    return Section("Per-token loss", text + img, ["loss_histogram"])


def samples_section(ctx: ReportContext) -> Section:
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
        text = vocab.tokenizer.decode(vocab.decode(prompt))
        parts.append(f"<h3>prompt: <code>{html.escape(text)}</code></h3><ul>")
        for name, model in ctx.models.items():
            ids = model.vocab.encode(vocab.decode(prompt))
            out = list(sample(model, ids, length, temperature=1.0, seed=index))
            cont = html.escape(model.tokenizer.decode(model.vocab.decode(out)))
            cont = cont.replace("\n", " <span class=eol>⏎</span> ")
            parts.append(f"<li><b>{html.escape(name)}</b>: {html.escape(text)} {cont}</li>")
        parts.append("</ul>")
    return Section("Samples (temperature 1; one seed per prompt)", "".join(parts))


def environment_section(ctx: ReportContext) -> Section:
    import torch

    env = {
        "seqlm": package_version("seqlm"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "command": " ".join(ctx.settings.get("argv", sys.argv)),
        **ctx.settings.get("env", {}),
    }
    ctx.result["environment"] = env
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in env.items()
    )
    return Section("Environment", f"<table>{rows}</table>")


# Counts the figures that decoded and the elements that stick out of the window (outside a
# scrolling box), for the browser test to read back from the DOM; no network.
CHECK_SCRIPT = """<script>window.addEventListener('load', () => {
const imgs = [...document.images];
document.body.dataset.figures = imgs.length;
document.body.dataset.figuresRendered = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
const width = document.documentElement.clientWidth;
const out = [...document.body.querySelectorAll('*')].filter(e =>
  !e.closest('.scroll, pre, details:not([open])') && e.getBoundingClientRect().right > width + 1);
document.body.dataset.viewport = width;
document.body.dataset.pageWidth = document.documentElement.scrollWidth;
document.body.dataset.overflowing = out.map(e => e.tagName + '.' + e.className).join(' ');
});</script>"""

STYLE = """*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1,h2,h3,p,li{overflow-wrap:anywhere}table.results td:nth-child(2){white-space:nowrap}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}img{max-width:100%;height:auto}
th{text-align:left;padding-right:1em;vertical-align:top}h2{border-bottom:1px solid #ddd}
td{overflow-wrap:anywhere}.eol{color:#999}.scroll{overflow-x:auto;max-width:100%}
table.results{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.results td,table.results th{padding:.2em .6em;border-bottom:1px solid #eee}
table.results td.num{text-align:right;white-space:nowrap}
.explain{background:#f4f8fb;border-left:4px solid #7aa6c2;padding:.4em 1em;margin:1em 0}
.explain h3{font-size:1em;margin:.6em 0 .2em}
@media (max-width:600px){body{margin:1em auto}table.results{font-size:.8em}}"""


CORE_SECTIONS = (table_section, curves_section, loss_histogram_section, samples_section)


def render(
    sections: Sequence[Callable[[ReportContext], Section | None]],
    result: dict,
    models: dict,
    losses: dict,
    corpus,
    out: str | Path,
    settings: dict | None = None,
) -> Path:
    """Write OUT/report.html (each of `sections` that has something to show), OUT/report.json
    and the figures; return the page's path."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise SeqlmError(f"{out}: cannot write the report there ({e.strerror})") from None
    ctx = ReportContext(result, models, losses, corpus, out, settings or {})
    sections = [s for s in (fn(ctx) for fn in sections) if s is not None]
    body = "".join(
        f'<section id="{html.escape(s.title.lower().replace(" ", "-"))}">'
        f"<h2>{html.escape(s.title)}</h2>{s.html}</section>"
        for s in sections
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
        "content='width=device-width,initial-scale=1'><title>seqlm report: "
        f"{html.escape(result['corpus'])}</title><style>{STYLE}</style></head><body>"
        f"<h1>seqlm: {html.escape(result['corpus'])}</h1>{body}{CHECK_SCRIPT}</body></html>"
    )
    atomic_write_text(out / "report.html", page)
    result["figures"] = [f for s in sections for f in s.figures]
    atomic_write_text(out / "report.json", json.dumps(result, indent=2, default=float))
    return out / "report.html"
