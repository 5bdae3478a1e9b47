"""Write docs/performance.md from the measurements in docs/results/.

    python docs/gen_performance.py           # regenerate the page
    python docs/gen_performance.py --check   # exit 1 if the page is not what the results give

Every figure on the page comes from a file in docs/results/ (the output a bench script
printed, its JSON, or a pipe-separated table of recorded figures); only the prose around the
tables is written here. tests/test_docs.py fails when the committed page is stale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS / "results"
PAGE = DOCS / "performance.md"


# --- reading ------------------------------------------------------------------------------


def lines(name: str) -> list[str]:
    return (RESULTS / name).read_text(encoding="utf-8").splitlines()


def comments(name: str) -> list[str]:
    return [line[1:].strip() for line in lines(name) if line.startswith("#")]


def command(name: str) -> str:
    """The command a results file records (`# $ ...`, continuation lines joined)."""
    text = "\n".join(comments(name))
    text = re.sub(r"\\\n\s*", "", text)
    found = re.search(r"\$ (.+)", text) or re.search(r"(python bench/.+)", text)
    if not found:
        return ""
    cmd = found.group(1).strip()
    cmd = re.sub(r"^SEQLM_DATA=\S+\s+", "", cmd)
    cmd = re.sub(r"^nice -n \d+\s+", "", cmd)
    return cmd


def pipe_table(name: str) -> tuple[list[str], list[list[str]]]:
    """A results file's `a | b | c` rows: the header and the data."""
    rows = [
        [cell.strip() for cell in line.split("|")]
        for line in lines(name)
        if "|" in line and not line.startswith("#")
    ]
    return rows[0], rows[1:]


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def code(text: str, lang: str = "text") -> str:
    return f"```{lang}\n{text.rstrip()}\n```"


def num(x: float, digits: int = 2) -> str:
    return f"{x:,.{digits}f}"


# --- sections -----------------------------------------------------------------------------


def gemm_table() -> str:
    rows = []
    for path in sorted(RESULTS.glob("awd-*.json")):
        data = json.loads(path.read_text())
        peak = data.get("gemm_peak")
        if peak:
            rows.append(
                [f"`{path.stem}`", data["threads"], f"{peak['onednn']:.0f}", f"{peak['mkl']:.0f}"]
            )
    found = re.search(r"seqlm MKL (\d+) / oneDNN (\d+)", "\n".join(lines("time_to_ppl.txt")))
    if found:
        rows.append(["`time_to_ppl`", 1, found.group(2), found.group(1)])
    return table(["run", "threads", "oneDNN GFLOP/s", "MKL GFLOP/s"], rows)


def demo() -> str:
    header, rows = pipe_table("demo.txt")
    return f"`{command('demo.txt')}` (the table itself is in [Getting started](index.md)):\n\n" + (
        table(header, rows)
    )


def time_to_ppl() -> str:
    text = lines("time_to_ppl.txt")
    start = next(i for i, line in enumerate(text) if line.startswith("arm "))
    header = re.split(r"\s{2,}", text[start].strip())
    rows = []
    for line in text[start + 1 :]:
        cells = line.split()
        if len(cells) != len(header):
            break
        rows.append(cells)
    names = {"examples": "pytorch/examples `main.py`", "seqlm": "seqlm `ptb-fast` preset"}
    rows = [[names.get(r[0], r[0]), *r[1:]] for r in rows]
    labels = [h + " (min)" if h.startswith("<") else h for h in header]
    speedups = [line for line in text if re.match(r"< \d+: ", line)]
    return table(labels, rows) + "\n\n" + "; ".join(speedups) + "."


def machine_of(txt: str) -> str:
    head = " ".join(comments(txt)[:6]).lower()
    if "not an idle" in head:
        return "shared for its first ~25 min"
    if "idle" in head:
        return "idle"
    return "shared with other jobs"


def awd_runs() -> str:
    rows = []
    for path in sorted(RESULTS.glob("awd-*.json")):
        data = json.loads(path.read_text())
        t = data["train"]
        static = next(m for m in data["methods"] if m["method"] == "static")
        txt = path.with_suffix(".txt").name
        inside = "budget-includes-eval" in command(txt)
        rows.append(
            [
                f"`{path.stem}`",
                num(t["train_seconds"] / 60, 1),
                num(t["eval_seconds"] / 60, 1) + (" (inside)" if inside else ""),
                f"{t['steps']:,}",
                f"{t['tokens'] / 1e6:.1f}M",
                f"{t['tokens_per_s']:,.0f}",
                f"{static['valid_ppl']:.2f}",
                f"**{static['report_ppl']:.2f}**",
                data["scope"],
                machine_of(txt),
            ]
        )
    header = [
        "run",
        "training min",
        "validation min",
        "steps",
        "tokens",
        "tokens/s",
        "valid",
        "test",
        "scored on",
        "machine",
    ]
    commands = "\n".join(
        f"# {p.stem}\n{command(p.with_suffix('.txt').name)}"
        for p in sorted(RESULTS.glob("awd-*.json"))
    )
    return table(header, rows) + "\n\nThe commands:\n\n" + code(commands, "bash")


def methods(stem: str) -> str:
    data = json.loads((RESULTS / f"{stem}.json").read_text())
    rows = []
    for m in data["methods"]:
        params = ", ".join(f"{k} {v}" for k, v in m["params"].items() if k != "lr_tuned_on_tokens")
        gain = m["report_ppl"] - data["methods"][0]["report_ppl"]
        rows.append(
            [
                m["method"],
                f"{m['valid_ppl']:.2f}",
                f"{m['report_ppl']:.2f}",
                "–" if m["method"] == "static" else f"{gain:+.2f}",
                f"{m['extra_seconds']:.1f}",
                params or "–",
            ]
        )
    header = ["method", "valid", "test", "test change", "extra seconds", "chosen on valid"]
    return table(header, rows)


def tinyshakespeare_dynamic() -> str:
    last = [c for c in comments("tinyshakespeare-dynamic.txt") if c.startswith("bits/char")]
    return f"`{command('tinyshakespeare-dynamic.txt')}`: dynamic evaluation, " + (
        last[0] + "." if last else ""
    )


def recipes() -> str:
    header, rows = pipe_table("recipes.txt")
    notes = [c[5:].strip() for c in comments("recipes.txt") if c.startswith("note:")]
    rows = [[r[0], f"`{r[1]}`", *r[2:]] for r in rows]
    return table(header, rows) + "".join(f"\n\n{n}" for n in notes)


def validation_curve(name: str) -> str:
    points = []
    for line in lines(name):
        row = json.loads(line)
        if row.get("type") == "valid":
            points.append(f"{row['epoch']}: {row['valid_ppl']:.1f}")
    return ", ".join(points)


def defaults() -> str:
    runs: dict[tuple[str, str], list[str]] = {}
    threads, current = "1", None
    for line in lines("defaults.txt"):
        found = re.search(r"--threads (\d+)", line)
        if line.startswith("#") and found:
            threads = found.group(1)
        head = re.match(r"(\S+): ([\d,]+) training tokens, vocabulary ([\d,]+)", line)
        if head:
            current = [head.group(1), head.group(2), head.group(3), threads]
            runs[(head.group(1), threads)] = current
        elif current is not None and line.strip().startswith("picked:"):
            current.append(line.split("picked:")[1].strip())
        elif current is not None and re.search(r"steps, .* epochs", line):
            epochs = re.search(r"\(([\d.]+) epochs\)", line).group(1)
            speed = re.search(r"([\d,]+) tokens/s", line).group(1)
            share = re.search(r"\(([\d.]+%)\)", line).group(1)
            current += [epochs, speed, share]
        elif current is not None and line.strip().startswith(("LSTM", "5-gram")):
            current.append(re.search(r"test\s+([\d.]+)", line).group(1))
    header = ["corpus", "training tokens", "vocabulary", "threads", "picked"]
    header += ["epochs", "tokens/s", "validation share", "LSTM test", "5-gram test"]
    rows = [r for r in runs.values() if len(r) == len(header)]
    return table(header, rows)


def own_text() -> str:
    """bench/own_text.py's table: one row per corpus, forecasts as ratios of the actual."""
    header = ["corpus", "tokenizer", "LSTM bpb", "5-gram bpb", "mixture bpb"]
    header += ["LSTM ppl", "5-gram ppl", "mixture ppl", "tokens/s (forecast)", "tokens (forecast)"]
    rows = []
    for line in lines("own-text.txt"):
        cells = line.split()
        if line.startswith("#") or len(cells) != 12 or not re.match(r"[\d.]+$", cells[2]):
            continue
        name, tokenizer, *figures, speed, fc_speed, tokens, fc_tokens = cells
        bpb, ppl = (
            [f"{float(x):.3f}" for x in figures[:3]],
            [f"{float(x):.1f}" for x in figures[3:]],
        )
        best = min(range(3), key=lambda i: float(bpb[i]))
        bpb[best] = f"**{bpb[best]}**"
        rows.append(
            [name, f"`{tokenizer}`", *bpb, *ppl, f"{speed} ({fc_speed})", f"{tokens} ({fc_tokens})"]
        )
    text = lines("own-text.txt")
    start = next((i for i, line in enumerate(text) if line.startswith("the calibration now")), None)
    if start is None:
        return table(header, rows)
    now = [line.split() for line in text[start + 2 :] if len(line.split()) == 4]
    return (
        table(header, rows)
        + "\n\nThe forecast the calibration gives now for each run's model (same threads), "
        + "against what the run read:"
        + "\n\n"
        + table(["corpus", "forecast tokens/s", "the run's tokens/s", "actual / forecast"], now)
    )


def ablation() -> str:
    rows, seed = [], "default"
    for line in lines("ablation.txt"):
        found = re.search(r"--seed (\d+)", line)
        if line.startswith("#") and found:
            seed = found.group(1)
        cells = line.split(None, 5)
        if len(cells) in (5, 6) and re.fullmatch(r"[\d,]+", cells[1]):
            delta, changed = (cells[4], cells[5]) if len(cells) == 6 else ("–", "–")
            rows.append([cells[0], seed, *cells[1:4], delta, changed])
    header = ["arm", "seed", "tokens/s", "valid", "test", "test − preset's", "changed"]
    return f"`{command('ablation.txt')}`\n\n" + table(header, rows)


SCHEDULES = {  # the arms of ptb-schedule-ab.txt, in words
    "A": "near-constant peak lr (a cosine over 9,000 steps)",
    "B": "a cosine that ends with an 8-minute budget",
    "D": "hold the peak, then a cosine over the last 25% (the `ptb` preset's)",
    "E": "a cosine over all 497 steps",
}


def schedules() -> str:
    rows = []
    for line in lines("ptb-schedule-ab.txt"):
        found = re.match(r"([A-E])\s+([\d.]+) / ([\d.]+)\s+(\d+) steps\s+([\d,]+) tokens/s", line)
        if found:
            arm = found.group(1)
            rows.append([arm, SCHEDULES.get(arm, arm), *found.groups()[1:]])
    return table(["arm", "schedule", "valid", "test", "steps", "tokens/s"], rows)


def small_corpus() -> str:
    rows = []
    for line in lines("small-corpus-recipe.txt"):
        found = re.match(r"(\S.*?)\s{2,}(\d+|-)\s+([\d,]+|-)\s+([\d.]+)\s+([\d.]+)", line)
        if found and not line.startswith("#"):
            rows.append(list(found.groups()))
    names = {"old 2x200 SGD": "2x200 LSTM, SGD lr 1.0", "new recipe 2x400": "the picked recipe"}
    rows = [[names.get(r[0], r[0]), *r[1:]] for r in rows]
    return table(["model", "steps", "tokens/s", "valid", "test"], rows)


def generation() -> str:
    text = lines("generation.txt")
    rows = []
    for line in text[2:]:
        found = re.match(r"(\S.*?)\s{2,}([\d,]+)(?:\s+([\d,]+))?\s*$", line)
        if found:
            rows.append([found.group(1), found.group(2), found.group(3) or "–"])
    notes = [line for line in text if "perplexity" in line]
    return (
        text[0]
        + ".\n\n"
        + table(["model", "generate tokens/s", "score tokens/s"], rows)
        + "\n\n"
        + "\n".join(notes)
        + "."
    )


def serve_load() -> str:
    rows, cur, pending = [], None, "–"
    for line in lines("serve_load.txt"):
        if line.startswith("#"):
            if m := re.search(r"load average ([\d.]+) before", line):
                pending = m.group(1)
        elif line.startswith("$ python bench/serve_load.py"):
            cur = {"cmd": line[2:].split("#")[0].strip(), "load": pending}
            rows.append(cur)
            pending = "–"
        elif cur is None:
            continue
        elif m := re.search(r"^server: .*load average ([\d.]+) before", line):
            cur["load"] = m.group(1)
        elif m := re.search(
            r"8 clients: \d+ requests, ([\d.]+) requests/s, p50 (\d+) ms, p99 (\d+)", line
        ):
            cur["s8"], cur["p50"], cur["p99"] = m.groups()
        elif m := re.search(r"1 client: ([\d.]+) requests/s", line):
            cur["s1"] = m.group(1)
        elif m := re.search(r"1 stream: ([\d.]+) tokens/s", line):
            cur["g1"] = m.group(1)
        elif m := re.search(r"8 streams: ([\d.]+) tokens/s .*?([\d.]+)x one stream", line):
            cur["g8"], cur["ratio"] = m.groups()
    header = ["command", "load average", "/score, 8 clients", "p50 / p99 ms", "/score, 1 client"]
    header += ["/generate, 1 stream", "8 streams"]
    out = []
    for r in sorted(rows, key=lambda r: float(r["load"]) if r["load"] != "–" else 99):
        out.append(
            [
                f"`{r['cmd']}`",
                r["load"],
                f"{r.get('s8', '–')} requests/s",
                f"{r.get('p50', '–')} / {r.get('p99', '–')}",
                f"{r.get('s1', '–')} requests/s",
                f"{r.get('g1', '–')} tokens/s",
                f"{r.get('g8', '–')} tokens/s ({r.get('ratio', '–')}×)",
            ]
        )
    return table(header, out)


def large_corpus() -> str:
    text = [line for line in lines("large_corpus.txt") if line.strip()]
    rows = [re.split(r"\s{2,}", line.strip()) for line in text[1:]]
    header = ["training tokens", "text MB", "anonymous memory when ready", "peak resident"]
    return table([*header, "seconds"], rows)


def ngram_scale() -> str:
    rows, section, commands = [], "", []
    for line in lines("ngram_scale.txt"):
        if line.startswith("## "):
            section = line[3:]
            continue
        current = "final code" in section or "code as measured" in section
        found = re.match(r"# \$ (?:SEQLM_DATA=\S+ )?(?:nice -n \d+ )?(.+)", line)
        if current and found:
            commands.append(found.group(1))
        cells = line.split()
        if current and cells[:1] in (["seqlm"], ["lmplz"]) and len(cells) >= 9:
            tokens = re.match(r"(\d+M) tokens", section).group(1)
            if "idle" in section:
                machine = "idle"
            else:
                found = re.search(r"load average ~?([\d\-.]+)", section + " ")
                machine = f"load average {found.group(1)}" if found else "shared"
            rows.append([tokens, cells[1], cells[0], *cells[2:9], machine])
    header = ["tokens", "order", "tool", "build s", "peak GB", "bytes/token", "model MB"]
    header += ["load s", "M tokens/s", "perplexity", "machine"]
    return (
        table(header, rows)
        + "\n\nThe commands, in the order of the table:\n\n"
        + code("\n".join(commands), "bash")
    )


def ngram_ptb() -> str:
    header, rows = pipe_table("ngram.txt")
    notes = [c for c in comments("ngram.txt")[2:] if not c.startswith("$")]
    return (
        f"`{command('ngram.txt')}`\n\n"
        + table(header, rows)
        + "\n\n"
        + "\n".join(f"- {n}" for n in notes)
    )


def ngram_ptb_loading() -> str:
    """The PTB notes of ngram_scale.txt: loading, scoring and reading ARPA files."""
    notes, inside = [], False
    for line in lines("ngram_scale.txt"):
        if line.startswith("## "):
            inside = line.startswith("## PTB")
        elif inside and line.startswith("# ") and "before this work" not in line:
            text = line[2:].strip()
            if notes and line.startswith("#   "):
                notes[-1] += " " + text
            else:
                notes.append(text)
    return "\n".join(f"- {n}" for n in notes)


def faults() -> str:
    counts: dict[str, list[int]] = {}
    summary = ""
    for line in lines("faults.txt")[1:]:
        found = re.match(r"(\w+): .*?\s+(-?\d+)\s+(yes|no)\s+(\S+)\s+(yes|no)", line)
        if found:
            c = counts.setdefault(found.group(1), [0, 0, 0])
            c[0] += 1
            c[1] += found.group(5) == "yes"
            c[2] += found.group(3) == "yes"
        elif "cases:" in line:
            summary = line.strip()
    rows = [[k, n, right, tb] for k, (n, right, tb) in counts.items()]
    return table(["area", "cases", "right", "tracebacks"], rows) + f"\n\n{summary}."


def verbatim(name: str) -> str:
    return code("\n".join(line for line in lines(name) if not line.startswith("#")))


def metered(name: str) -> str:
    return f"`{command(name)}`\n\n" + table(*pipe_table(name))


def metered_notes(name: str) -> str:
    """`metered`, then the results file's other comment lines as a list."""
    notes = [c for c in comments(name) if not c.startswith("$")]
    return metered(name) + "\n\n" + "\n".join(f"- {note.replace('<', '&lt;')}" for note in notes)


# --- the page -----------------------------------------------------------------------------


def render() -> str:
    return f"""<!-- Generated by docs/gen_performance.py from docs/results/: edit those, not this page. -->
# Performance

Every figure in these pages was measured on one machine: a virtual machine with **2 CPU
cores** (AMD EPYC with AVX-512), no GPU, `torch 2.13.0+cpu`. Each table says which command
produced it; the raw output is in the repository's `docs/results/`. Where a run shared
the CPU with other jobs, its table says so: compare such
figures within a table, not across tables. The fp32 GEMM peak of the VM varies from run to
run, so the runs that record it list it (`bench/awd.py` prints it first):

{gemm_table()}

The GPU path (cuDNN kernels, bf16/fp16 autocast with a gradient scaler, pinned host memory,
no per-step host syncs) runs the same functions as the CPU; it has not been timed.

## `seqlm demo` {{#demo}}

{demo()}

## PTB: time to perplexity {{#time-to-perplexity}}

`python bench/time_to_ppl.py --examples examples/word_language_model --cap 70 --seqlm-cap 30 --preset ptb-fast`
(`--examples`: the `word_language_model` folder of a checkout of pytorch/examples): the real
`main.py` of pytorch/examples' word-level model, its README's 2×650 tied LSTM
(`--emsize 650 --nhid 650 --dropout 0.5 --tied`; otherwise its defaults: SGD lr 20 divided by
4 when validation does not improve, clip 0.25, batch 20, bptt 35, validation at each epoch's
end), against seqlm's `ptb-fast` preset (the `ptb` model without weight drop and word dropout,
lighter dropouts, AdamW held at 3e-3 then annealed over the last quarter of its 30 minutes),
one core each, both running at once. Minutes of wall time (validation included) until
validation perplexity first drops below each line. MFU is the training step's FLOPs times
tokens/s over the larger GEMM peak each arm measured; the peaks were measured with the other
arm running, when this VM's oneDNN rate was half what it measured in other runs (108 against
231 GFLOP/s), so the MFU column is taken against that lower peak. The rows are
`docs/results/time_to_ppl.jsonl`; the results file also has seqlm's first run beside the same
examples run, with the `ptb` preset's dropouts (1.98× sooner at 150).

{time_to_ppl()}

## PTB: the `ptb` preset for an hour and for two {{#ptb-hour}}

The best checkpoint scored on the whole valid and test splits (the `awd-brief` run: on their
first 10,000 tokens). "Inside" marks runs whose budget counts validation too
(`--budget-includes-eval`).

{awd_runs()}

Validation perplexity (10 streams) by minute, the hour with validation on top
(`awd-60`): {awd_curve("awd-60.txt")}.

## PTB: evaluation-time methods {{#evaltime}}

The best checkpoint of `awd-60`, then each method, every setting tuned on the valid split
only; seconds of evaluation each method adds:

{methods("awd-60")}

The same for `awd-60-inbudget`:

{methods("awd-60-inbudget")}

Tiny Shakespeare, characters: {tinyshakespeare_dynamic()}

## Presets reproduced {{#presets}}

{recipes()}

`ptb-small`, validation perplexity by epoch: {validation_curve("ptb-small.metrics.jsonl")}.

## PTB: every model for three minutes {{#ptb-compare}}

`seqlm compare ptb --budget 3m --report runs/ptb-report` (before the table gained its
`tokens` column):

{verbatim("ptb-compare-3m.txt")}

## Training without a preset {{#no-preset}}

`python bench/defaults.py CORPUS... --minutes 15 --threads T`: nothing but a 15-minute
budget, beside the corpus's 5-gram; `ptb` has its own preset, `ptb-dir` is the same text as
a plain directory, `ptb200k` the first 200K tokens of PTB train with PTB's valid and test.
With one thread, two corpora ran side by side. Validation is outside the budget.

{defaults()}

### Your own text, with the defaults {{#own-text}}

`{command("own-text.txt")}`: each corpus with nothing but `--max-minutes 15 --threads 2`;
the tokenizer is the one seqlm picked, the 5-gram and the mixture are what `seqlm train`
builds after training (weight tuned on valid), figures on test, bits per byte of the
original text. {" ".join(c for c in comments("own-text.txt") if not c.startswith("$"))}

{own_text()}

The 200K-token corpus for 5 minutes at one thread (shared CPU):

{small_corpus()}

## Each regulariser alone {{#ablation}}

Each arm is the `ptb` preset with one thing changed, 300 steps on the first ~200K tokens of
PTB train (≈ 3.4 epochs), scored on PTB's valid and test; two arms side by side on one
thread each.

{ablation()}

## Learning-rate schedules {{#schedules}}

The `ptb` recipe at 2×256, step-matched at ~500 steps (1.15 epochs), one thread per arm on
a shared CPU (`seqlm train --data ptb --preset ptb --embed 256 --hidden 256` with each arm's
schedule flags; `docs/results/ptb-schedule-ab.txt` lists them):

{schedules()}

## Generation and scoring {{#generation}}

`python bench/generation.py --lstm runs/ptb-lstm --threads 2` (batch 1, state carried,
top-k 50 sampling): {generation()}

## Serving under load {{#serve-load}}

`bench/serve_load.py` starts `seqlm serve` on a free loopback port and drives it from 8
concurrent clients (100-token PTB texts to `/score`; `/generate` streams at temperature 1,
top-k 50), timing a freshly initialised model of the `ptb` preset's shape (2×650 LSTM,
adaptive softmax, 10k words: speed does not depend on the weights); the load average of
the machine (other jobs running) is each run's own:

{serve_load()}

## Training throughput {{#throughput}}

{metered("throughput.txt")}

## Data pipeline {{#data-pipeline}}

{metered("data_pipeline.txt")}

## Corpora larger than memory {{#large-corpus}}

`python bench/large_corpus.py`: a process training a 2×200 LSTM for 60 steps, reading
windows from the memory-mapped token cache.

{large_corpus()}

## n-grams on PTB, against KenLM {{#ngram-ptb}}

{ngram_ptb()}

Loading, scoring and reading ARPA files (PTB, load average 5–6 unless noted):

{ngram_ptb_loading()}

## n-gram scoring speed, against KenLM {{#ngram-speed}}

PTB's 5-gram built by KenLM's `lmplz`, scored by KenLM (`query` on `build_binary`'s
probing model and on the ARPA; the `kenlm` Python module) and by seqlm (the directory
`seqlm ngram convert` writes), each as one process pinned to one core of the 2-core
machine, timed in CPU seconds on an otherwise idle machine (KenLM's own figures vary by
±20% from run to run, so ratios near 1 are within the noise). seqlm's figures
are its compiled path (`pip install seqlm[fast]`: Numba); the first call in a process
reads the compiled kernels from Numba's cache, the first call after installing compiles
them (a few seconds). seqlm's model directory holds its hash tables (24 bytes per n-gram
of order 2 and above), which a load maps, as KenLM maps its binary file.

{metered_notes("ngram-speed.txt")}

The same with the 5-gram of the 100M-token corpus of [n-grams at scale](#ngram-scale) (an
8.8 GB ARPA; its held-out text x10 scored). seqlm's directory holds its hash tables
(4.7 GB, mapped at load as KenLM maps its binary); one repeat. seqlm maps its tables
lazily, so its first pass over this model faults their pages in (2.17 s, against 0.55 s for
the next); the `kenlm` module populates its mapping while loading, which is not timed, so the
line-by-line figures compare passes after the first:

{metered_notes("ngram-speed-100m.txt")}

## Bulk scoring {{#bulk-score}}

`seqlm score` on JSONL documents (a 5-gram, one worker): memory stays the same whatever
the input's size, since documents stream through in batches.

{verbatim("bulk-score.txt")}

## n-grams at scale, against KenLM {{#ngram-scale}}

Real English recombined (PTB and Tiny Shakespeare words shuffled within lines); seqlm at
`--memory 1G`, KenLM's `lmplz -S 1G` then `build_binary` (probing); peak = summed PSS of
seqlm's processes, `lmplz`'s max RSS.

{ngram_scale()}

## The Transformer against pytorch/examples' {{#transformer-vs-examples}}

`{command("transformer-vs-examples.txt")}`: the real `main.py --model Transformer --lr 5` of
pytorch/examples' word-language model (at its default lr 20 its Transformer diverges on
PTB) and seqlm's `--preset ptb-transformer` on PTB, started together, one thread each;
validation perplexity against wall time, validation included. The preset trains for 10
minutes: 2 blocks of 256 with 64 tokens of context, an adaptive softmax, no dropout, and
AdamW's cosine ending with the 10 minutes. The examples' model (2 layers of 200, a full
softmax, plain SGD divided by 4 when validation stops improving) runs to the cap, on its
own once seqlm's arm has stopped. The examples score validation in 35-token chunks, each
read from an empty context, seqlm with 32 to 64 tokens of history for every token, so the
two curves do not measure quite the same thing.

{verbatim("transformer-vs-examples.txt")}

The examples' best in its 30 minutes, 145.01 after its seventh epoch, seqlm's preset reached
at its 8.3-minute check: **3.4× sooner**. Its own best, 139.81, came with the end of its 10
minutes. Against the examples' fifth epoch (149.68 at 20.1 minutes), seqlm's 147.70 at 7.8
minutes is 2.6× sooner. Most of the gain is tokens per second (the examples read an epoch,
0.93M tokens, in about 3.9 minutes, some 4,000 a second; the preset reads about 6,000 beside
it, its adaptive softmax scoring most tokens against 2,000 words rather than 10,000). Per
token the two are close: after one epoch the preset's search run 4 (below) stood at 223.1
against the examples' 232.1.

With the examples capped at 20 minutes (`{command("transformer-vs-examples-20.txt")}`), its
fifth epoch ended just past the cap, so its best was the fourth epoch's 153.24 at 16.1
minutes. seqlm had crossed that level between its checks at 7.0 minutes (155.94) and 8.1
minutes (147.51); counted at the check, that is 1.99× sooner, just short of 2×. A cap
that ends inside an epoch decides the examples' best; the 30-minute cap lets it finish seven.

{verbatim("transformer-vs-examples-20.txt")}

How the preset was chosen: five runs of a first shape on token budgets, two at a time
at one thread each. Dropout, even 0.1, slowed what these few epochs learn far more than it
saved from overfitting, and 1,024 tokens a step (batch 16) learnt more per token than 2,048.

{metered_notes("ptb-transformer-search.txt")}

## The minimal RNNs' scan against the LSTM's kernel {{#minimal-speed}}

`bench/minimal_speed.py`: tokens/s of two recurrent layers (650 inputs) at equal
parameters: a training step (forward and backward, batch 20 × 35 tokens) and scoring
(batch 1 × 1,024 tokens). At equal parameters minGRU and minLSTM are 1.9 and 1.5 times
as wide as the LSTM, and on this CPU their log-space scan (elementwise work, memory-bound)
does not beat oneDNN's fused LSTM kernel; the scan's advantage is its parallel depth,
which a GPU exploits and two cores cannot.

{verbatim("minimal-speed.txt")}

## Every model on Tiny Shakespeare's characters {{#cells-tinyshakespeare}}

`{command("cells-tinyshakespeare.txt")}`: each model one `seqlm train` command (listed under
the table) for 30 minutes of training at one thread, two commands at a time on the two
cores; shapes of about equal parameters, the `tinyshakespeare` preset's training settings
for the recurrent models and `--preset transformer` for the Transformer, and for all of
them `--budget-schedule` (the learning rate's cosine spans the 30 minutes). Figures are
the best checkpoint on the whole splits; "< X" is the training minute of the first
validation below perplexity X. What the table says is on
[After the notes](after-the-notes.md#tiny-shakespeare-characters-30-minutes-each).

{verbatim("cells-tinyshakespeare.txt")}

## Every model on PTB in ten minutes of one core {{#cells-ptb}}

`{command("cells-ptb10.txt")}`: the same script on PTB, each model for 10 minutes at one
thread, validation included, two commands at a time: the two presets made for short
budgets (`ptb-fast`'s 2×650 LSTM and `ptb-transformer`), and the mLSTM and minGRU put in
`ptb-fast`'s place at about its 15.5M parameters, untuned. Figures are the best checkpoint
on the whole splits; "< X" is the training minute of the first validation below perplexity
X. What the table says is on
[After the notes](after-the-notes.md#which-model-learns-fastest-per-second).

{verbatim("cells-ptb10.txt")}

## Every model on PTB in an hour of two cores {{#cells-ptb-hour}}

`{command("cells-ptb60.txt")}`: the same script with the `ptb-hour` rows, one model at a
time on both cores, 60 minutes of training each and validation on top, as the `ptb` preset's
own hour counts it. The LSTM's row is the `ptb` preset's hour
([above](#ptb-hour), the `awd-60` run, whose command trains the same model); the recurrent
rows take the `ptb` preset's settings with the cell swapped (weight drop needs a
hidden-to-hidden matrix, which they have not); the Transformer is 3 blocks of 384 with 128
tokens of context and dropout, sized to read about as many tokens in the hour as the LSTM.
What the table says is on
[After the notes](after-the-notes.md#ptb-an-hour-on-two-cores).

{verbatim("cells-ptb60.txt")}

## The long-range lab {{#lab}}

`python bench/longrange.py --budget 90s --threads 1 --figures docs/figures` (one thread):
RNN, LSTM and GRU (1×128) and a 5-gram on the built-in corpus, then every probe. The
figures on [the long-range lab](lab.md) page come from this run.

{verbatim("longrange.txt")}

## Reliability {{#faults}}

`python bench/faults.py`: each case through the real CLI (exit code, traceback or not,
anything left half-written); the full table is `docs/results/faults.txt`.

{faults()}
"""


def awd_curve(name: str) -> str:
    for c in comments(name):
        if re.match(r"[\d.]+: [\d.]+,", c):
            return c
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    text = render()
    if args.check:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is stale: run python docs/gen_performance.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
