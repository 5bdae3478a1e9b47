"""The report's figures on a corpus without an entropy floor and with one validation point:
no floor caption, legible ticks, histogram lines told apart by style as well as colour."""

import numpy as np

from seqlm.report.page import ReportContext, curves_section, loss_histogram_section


class NoFloor:
    def entropy_floor(self, split):
        return None


def context(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = {}
    monkeypatch.setattr(
        ReportContext, "figure", lambda self, fig, name: figures.setdefault(name, fig) and ""
    )
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    rows = [
        {
            "model": "lstm",
            "kind": "lstm",
            "valid": {"perplexity": 180.3},
            "history": [{"valid_ppl": 180.3, "wall": 2.01, "tokens": 120_000}],
        },
        {"model": "5-gram", "kind": "ngram", "history": [], "valid": {"perplexity": 175.0}},
    ]
    rng = np.random.default_rng(0)
    losses = {n: rng.gamma(2.0, 1.5, 500) for n in ("lstm", "gru", "rnn", "3-gram", "5-gram")}
    return ReportContext({"rows": rows}, {}, losses, NoFloor(), tmp_path, {}), figures


def test_no_floor_caption_and_legible_ticks_with_one_point(tmp_path, monkeypatch):
    ctx, figures = context(tmp_path, monkeypatch)
    section = curves_section(ctx)
    assert "floor" not in section.html
    fig = figures["learning_curves"]
    fig.canvas.draw()
    for ax in fig.axes[:2]:
        ticks = [t for t in ax.get_xticklabels() if t.get_text()]
        assert 2 <= len(ticks) <= 8
        boxes = [t.get_window_extent() for t in ticks]
        assert all(a.x1 <= b.x0 for a, b in zip(boxes[:-1], boxes[1:], strict=True))


def test_histogram_lines_differ_in_style(tmp_path, monkeypatch):
    ctx, figures = context(tmp_path, monkeypatch)
    loss_histogram_section(ctx)
    ax = figures["loss_histogram"].axes[0]
    styles = {(p.get_edgecolor(), p.get_linestyle()) for p in ax.patches}
    assert len({s for _, s in styles}) == 5
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(ctx.losses)
