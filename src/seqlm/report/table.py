"""The comparison as text: the ranked table, the adjacent-pair intervals and the sentences.

Columns that depend only on the models (parameters, tokens seen, perplexities) come first;
the machine-dependent ones (training time, tokens/s) and whether a model was reused from
the cache come last, so two runs with a token budget differ only at the right-hand end.
"""

from __future__ import annotations

import math


def _metric(split: dict, char: bool) -> str:
    """'20.04' or, over several seeds, '20.04 ± 0.05' (mean ± sd)."""
    key = "bits_per_char" if char else "perplexity"
    if split.get(key) is None:
        return "inf"
    digits = 4 if char else 2
    text = f"{split[key]:.{digits}f}"
    if split.get("seeds", 1) > 1 and f"{key}_sd" in split:
        text += f" ± {split[f'{key}_sd']:.{digits}f}"
    return text


def _bpb(split: dict) -> str:
    """Test bits per byte ('-': the corpus does not record its text's size)."""
    value = split.get("bits_per_byte")
    return "-" if value is None else f"{value:.4f}"


def _unk(split: dict) -> str:
    share = split.get("unk_share") or 0.0
    return f"{share:.1%}" if share else "0"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _any_unk(result: dict) -> bool:
    return any(r["test"].get("unk_share") for r in result["rows"])


def _tokens(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 10**6 else f"{n / 1e3:.0f}k"


def format_table(result: dict) -> str:
    char = result["level"] == "char"
    floor = result["floor_test_nats"]
    rows = result["rows"]
    width = max(9, *(len(_metric(r[s], char)) for r in rows for s in ("valid", "test"))) + 2
    unit = "bpc" if char else "ppl"
    head = f"{'#':>2} {'model':<12}{'params':>11}{'tokens':>9}"
    head += f"{'valid ' + unit:>{width}}{'test ' + unit:>{width}}{'test bpb':>10}"
    unk = _any_unk(result)
    head += f"{'<unk>':>7}" if unk else ""
    if floor is not None:
        head += f"{'gap to floor':>14}"
    head += f"{'train':>9}{'tokens/s':>11}  run"
    lines = [
        f"budget: {result['budget_text']}"
        + (f"; {result['seeds']} seeds per neural model, mean ± sd" if result["seeds"] > 1 else ""),
        head,
    ]

    def figures(mark: str, name: str, parameters: int, tokens: str, m: dict) -> str:
        """A row's columns up to the gap to the floor, for a ranked model or the mixture."""
        line = (
            f"{mark:>2} {name:<12}{parameters:>11,}{tokens:>9}"
            f"{_metric(m['valid'], char):>{width}}{_metric(m['test'], char):>{width}}"
            f"{_bpb(m['test']):>10}" + (f"{_unk(m['test']):>7}" if unk else "")
        )
        if floor is not None:
            gap = m["test"].get("gap_nats")
            line += f"{gap:>9.4f} nats" if gap is not None else f"{'inf':>14}"
        return line

    for i, r in enumerate(rows, 1):
        line = figures(str(i), r["model"], r["parameters"], _tokens(r["tokens"]), r)
        line += f"{r['train_seconds']:>8.1f}s{r['tokens_per_s']:>11,.0f}  "
        lines.append(line + ("cached" if r["cached"] else "trained"))
    if result.get("rank_note"):
        lines.append(f"   {result['rank_note']}; bpb: bits per byte of the test text")
    mixture = result.get("mixture")
    if mixture:  # not ranked with the rest: its weight was chosen on valid
        line = figures("*", "mixture", mixture["parameters"], "-", mixture["mixture"])
        lines.append(line + f"{'':>20}  tuned on valid")
        lines.append(f"   * {mixture_note(mixture)}")
    if floor is not None:
        lines.append(
            f"   entropy floor (test): {floor:.4f} nats/token = perplexity {math.exp(floor):.3f}"
        )
    if result.get("ranking"):
        b = result["bootstrap"]
        seeds = "; seeds resampled too" if result["seeds"] > 1 else ""
        lines.append(
            f"   neighbours: test nats/token difference, 95% paired-bootstrap interval "
            f"({b['resamples']:,} draws of {b['block']}-token blocks{seeds})"
        )
        for pair in result["ranking"]:
            lines.append(f"   {pair['better'] + ' vs ' + pair['worse']:<22}{_pair(pair)}")
    return "\n".join(lines)


def mixture_note(mixture: dict) -> str:
    """What the mixture row is: which two models, the weight, and where it was chosen."""
    return (
        f"mixture: {mixture['neural']['model']} and {mixture['ngram']['model']} mixed with "
        f"weight {mixture['weight']:g} on the n-gram, the weight chosen on valid (never on "
        f"test); saved as a model directory: {mixture.get('path', '-')}"
    )


def _pair(pair: dict) -> str:
    if pair["difference"] is None:
        return "not comparable (infinite loss)"
    verdict = "tied" if pair["tied"] else f"{pair['better']} better"
    return f"{pair['difference']:+.4f} [{pair['low']:+.4f}, {pair['high']:+.4f}]  {verdict}"


def summary_sentences(result: dict) -> str:
    """What the numbers support, written from them: the ranking with its ties, and how the
    best recurrent model stands against the best n-gram (only as far as the interval allows)."""
    rows = result["rows"]
    unit = "bits/char" if result["level"] == "char" else "perplexity"

    by_bytes = result.get("ranked_by") == "bits_per_byte"
    unit = "bits/byte" if by_bytes else unit

    def value(name: str) -> str:
        row = next(r for r in rows if r["model"] == name)
        return _bpb(row["test"]) if by_bytes else _metric(row["test"], unit == "bits/char")

    ranking = result.get("ranking") or []
    groups = [[rows[0]["model"]]]
    for pair in ranking:  # neighbours whose interval covers 0 share a place
        if pair["tied"]:
            groups[-1].append(pair["worse"])
        else:
            groups.append([pair["worse"]])
    places = []
    for group in groups:
        names = " and ".join(f"{m} ({value(m)})" for m in group)
        places.append(
            names + (" (tied: the data cannot tell them apart)" if len(group) > 1 else "")
        )
    first = f"Test {unit}, best first: " + "; then ".join(places) + "."
    duel = result.get("neural_vs_ngram")
    if not duel or duel["difference"] is None:
        return first
    interval = f"95% interval {duel['low']:.3f} to {duel['high']:.3f}"
    if duel["tied"]:
        second = (
            f"The best recurrent model ({duel['neural']}) and the best n-gram "
            f"({duel['ngram']}) are tied ({duel['difference']:+.3f} nats/token, "
            f"{interval})."
        )
    elif duel["difference"] > 0:
        second = (
            f"{duel['neural']} beats the best n-gram ({duel['ngram']}) by "
            f"{duel['difference']:.3f} nats/token ({interval}); the long-range lab "
            "shows whether far context is the reason."
        )
    else:
        second = (
            f"Within this budget the best n-gram ({duel['ngram']}) beats every recurrent "
            f"model, by {-duel['difference']:.3f} nats/token over {duel['neural']} (95% "
            f"interval {-duel['high']:.3f} to {-duel['low']:.3f})."
        )
    return f"{first} {second}"


def results_html(result: dict) -> str:
    """The table for the report: an HTML table that scrolls inside its box on a phone."""
    import html

    char = result["level"] == "char"
    unit = "bits/char" if char else "perplexity"
    floor = result["floor_test_nats"]
    head = ["#", "model", "parameters", "tokens seen", f"valid {unit}", f"test {unit}"]
    head += ["test bits/byte"] + (["<unk> share"] if _any_unk(result) else [])
    head += ["gap to floor (nats)"] if floor is not None else []
    head += ["train time", "tokens/s", "run"]
    body = []
    for i, r in enumerate(result["rows"], 1):
        gap = r["test"].get("gap_nats")
        cells = [
            str(i),
            r["model"],
            f"{r['parameters']:,}",
            _tokens(r["tokens"]),
            _metric(r["valid"], char),
            _metric(r["test"], char),
            _bpb(r["test"]),
        ]
        cells += [_unk(r["test"])] if _any_unk(result) else []
        cells += [f"{gap:.4f}" if gap is not None else "inf"] if floor is not None else []
        cells += [
            f"{r['train_seconds']:.1f} s",
            f"{r['tokens_per_s']:,.0f}",
            "cached" if r["cached"] else "trained",
        ]
        body.append(
            "<tr>"
            + "".join(
                f"<td{'' if j == 1 else ' class=num'}>{html.escape(c)}</td>"
                for j, c in enumerate(cells)
            )
            + "</tr>"
        )
    mixture = result.get("mixture")
    if mixture:
        cells = ["*", "mixture", f"{mixture['parameters']:,}", "-"]
        cells += [_metric(mixture["mixture"][s], char) for s in ("valid", "test")]
        cells += [_bpb(mixture["mixture"]["test"])]
        cells += [_unk(mixture["mixture"]["test"])] if _any_unk(result) else []
        if floor is not None:
            gap = mixture["mixture"]["test"].get("gap_nats")
            cells.append(f"{gap:.4f}" if gap is not None else "inf")
        cells += ["-", "-", "tuned on valid"]
        body.append(
            '<tr class="mixture">'
            + "".join(
                f"<td{'' if j == 1 else ' class=num'}>{html.escape(c)}</td>"
                for j, c in enumerate(cells)
            )
            + f'</tr><tr><td colspan="{len(cells)}">* {html.escape(mixture_note(mixture))}</td></tr>'
        )
    pairs = "".join(
        f"<li>{html.escape(p['better'])} vs {html.escape(p['worse'])}: {html.escape(_pair(p))}</li>"
        for p in result.get("ranking", [])
    )
    b = result.get("bootstrap", {})
    seeds = f"; mean ± sd over {result['seeds']} seeds" if result.get("seeds", 1) > 1 else ""
    return (
        f"<p>Budget: {html.escape(result['budget_text'])}{seeds}. Lower is better in the "
        "metric columns; time and tokens/s depend on the machine."
        + (f" {html.escape(_sentence(result['rank_note']))}." if result.get("rank_note") else "")
        + "</p>"
        '<div class="scroll"><table class="results"><tr>'
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr>"
        + "".join(body)
        + "</table></div>"
        + (
            f"<p>Neighbours in the ranking: difference in test loss (nats/token) with its 95% "
            f"interval from a paired bootstrap ({b.get('resamples', 0):,} draws of "
            f"{b.get('block', 0)}-token blocks); <b>tied</b> when the interval covers 0.</p>"
            f"<ul>{pairs}</ul>"
            if pairs
            else ""
        )
    )
