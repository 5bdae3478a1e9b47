"""Your own text, with the defaults: `seqlm train` on raw-text corpora as a new user runs it.

For each corpus, one command with default settings and a wall-time budget,

    seqlm train --data CORPUS --out DIR --max-minutes M --threads T --json

then the figures it reports: the tokenizer the rule picked, test bits per byte and
perplexity of the neural model, of the corpus's 5-gram and of their mixture (weight tuned
on valid), tokens/s, and the forecast against what the run read. Corpora (1-3 MB of text
each, assembled from what this machine has, one paragraph a line, documents in a seeded
shuffle and repeated paragraphs dropped (`write_lines`); seqlm splits a single file
90/5/5 at line ends):

- `shakespeare`: Tiny Shakespeare as raw text (`$SEQLM_DATA/tinyshakespeare/input.txt`);
- `docstrings`: the docstrings of NumPy and PyTorch, one paragraph a line;
- `manpages`: section-1 manual pages rendered as text (`man`), one paragraph a line;
- `ptb`: PTB as a plain directory (so it gets the recipe, not its preset);
- `fortunes`: Debian's `fortunes` package (quotations and literature), one a line.

    python bench/own_text.py --minutes 15 --threads 2 --only shakespeare,docstrings
    python bench/own_text.py --reuse --recalibrate   # the table again; forecasts re-measured
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

LIMIT = 2_000_000  # bytes of text per assembled corpus


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each joined onto one line."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        line = " ".join(part.strip() for part in block.splitlines() if part.strip())
        if len(line) > 20:
            out.append(line)
    return out


def write_lines(path: Path, documents: list[list[str]]) -> Path:
    """The documents (each a list of paragraphs) in a seeded shuffle, up to `LIMIT` bytes,
    each paragraph kept once.

    A collection of independent documents listed in name order puts whole families at the
    end (the test split of the sorted manual pages was 73% paragraphs copied from the
    training split: `gcc` and its `x86_64-linux-gnu-gcc` twin), so the 5-gram measured
    memorisation and the weight tuned on valid did not fit test. Shuffled documents make
    train, valid and test samples of one mix; dropping repeated paragraphs is the usual
    corpus hygiene (CCNet deduplicates paragraphs the same way)."""
    random.Random(0).shuffle(documents)
    size, kept, seen = 0, [], set()
    for document in documents:
        for line in document:
            if line in seen:
                continue
            seen.add(line)
            size += len(line.encode()) + 1
            if size > LIMIT:
                break
            kept.append(line)
        if size > LIMIT:
            break
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def docstrings(work: Path) -> Path:
    """A document per source file: its docstrings' paragraphs."""
    import numpy
    import torch

    documents = []
    for package in (numpy, torch):
        for file in sorted(Path(package.__file__).parent.rglob("*.py")):
            try:
                tree = ast.parse(file.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            lines = []
            for node in ast.walk(tree):
                if isinstance(
                    node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
                ):
                    doc = ast.get_docstring(node)
                    if doc:
                        lines += paragraphs(textwrap.dedent(doc))
            if lines:
                documents.append(lines)
    return write_lines(work / "docstrings.txt", documents)


def manpages(work: Path) -> Path:
    """A document per section-1 page, rendered by `man` (pages in a seeded order)."""
    pages = sorted({p.name.split(".")[0] for p in Path("/usr/share/man/man1").iterdir()})
    random.Random(0).shuffle(pages)
    documents, size, env = [], 0, {**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": "0"}
    for page in pages:
        try:
            text = subprocess.run(
                ["man", "-P", "cat", "1", page], capture_output=True, text=True, env=env, timeout=10
            ).stdout
        except (subprocess.TimeoutExpired, OSError):
            continue
        body = text.splitlines()[1:-1]  # the page's header and footer lines
        lines = [re.sub(r"\s+", " ", p) for p in paragraphs(re.sub(r".\x08", "", "\n".join(body)))]
        documents.append(lines)
        size += sum(len(line) for line in lines)
        if size > 2 * LIMIT:  # enough left once repeated paragraphs are dropped
            break
    return write_lines(work / "manpages.txt", documents)


def fortunes(work: Path) -> Path:
    """Debian's `fortunes` package (quotations and literature; `apt-get install fortunes`):
    one fortune a line (a document each), the ASCII-art file left out."""
    documents = []
    for file in sorted(Path("/usr/share/games/fortunes").iterdir()):
        if file.suffix or "art" in file.name:
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        for fortune in text.split("\n%\n"):
            line = " ".join(fortune.split())
            if len(line) > 20:
                documents.append([line])
    return write_lines(work / "fortunes.txt", documents)


def corpora(work: Path, data: Path) -> dict:
    return {
        "shakespeare": lambda: data / "tinyshakespeare" / "input.txt",
        "docstrings": lambda: docstrings(work),
        "manpages": lambda: manpages(work),
        "ptb": lambda: data / "ptb",
        "fortunes": lambda: fortunes(work),
    }


def round_trip(source: Path) -> str:
    """Whether `words`, `chars` and `bytes` give the corpus's text back byte for byte."""
    from seqlm.data.tokenizers import make

    files = sorted(source.glob("*.txt")) if source.is_dir() else [source]
    verdicts = []
    for name in ("words", "chars", "bytes"):
        tokenizer = make(name)
        same = True
        for file in files:
            text = file.read_text(encoding="utf-8")
            text = text if text.endswith("\n") else text + "\n"
            same &= tokenizer.decode(tokenizer.encode(text)) == text
        verdicts.append(f"{name} {'exact' if same else 'DIFFERS'}")
    return ", ".join(verdicts)


def run(name: str, source: Path, work: Path, minutes: float, threads: int) -> dict:
    out = work / f"run-{name}"
    command = [sys.executable, "-m", "seqlm", "train", "--data", str(source), "--out", str(out)]
    command += ["--max-minutes", str(minutes), "--threads", str(threads), "--json"]
    command += ["--overwrite"]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"corpus": name, "error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout)
    result["wall_seconds"] = round(time.time() - start, 1)
    result["corpus"] = name
    config = json.loads((out / "config.json").read_text())
    result["tokenizer"] = config.get("tokenizer") or config.get("corpus", {}).get("tokenizer")
    (work / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def row(result: dict) -> str:
    if "error" in result:
        return f"{result['corpus']:<12} error: {result['error']}"
    mix = result.get("mixture") or {}
    parts = ("neural", "ngram", "mixture")
    bpb = {k: (mix.get(k) or {}).get("test", {}).get("bits_per_byte") for k in parts}
    ppl = {k: (mix.get(k) or {}).get("test", {}).get("perplexity") for k in parts}
    forecast = result.get("forecast") or {}
    return (
        f"{result['corpus']:<12} {result['tokenizer']!s:<11} "
        f"{bpb.get('neural') or result['test'].get('bits_per_byte')!s:>8} "
        f"{bpb.get('ngram')!s:>8} {bpb.get('mixture')!s:>8}  "
        f"{ppl.get('neural')!s:>8} {ppl.get('ngram')!s:>8} {ppl.get('mixture')!s:>8} "
        f"{result['tokens_per_s']:>8,.0f} {forecast.get('tokens_per_s', 0):>9,.0f} "
        f"{result['tokens']:>10,} {forecast.get('tokens', 0):>10,}"
    )


def recalibrate(name: str, work: Path, threads: int) -> str:
    """The forecast the calibration gives now for a saved run's model, against the rate
    that run read (its own config and vocabulary, this machine, `threads` threads)."""
    from seqlm.data.vocab import Vocab
    from seqlm.train import calibrate
    from seqlm.train.config import TrainConfig

    out = work / f"run-{name}"
    config = json.loads((out / "config.json").read_text())
    flat = {k: v for k, v in {**config["model"], **config["train"]}.items() if k != "vocab_size"}
    rate = calibrate.measure(TrainConfig.from_flat(flat), Vocab.load(out / "vocab.json"), threads)
    actual = json.loads((work / f"{name}.json").read_text())["tokens_per_s"]
    return f"{name:<12} {rate:>9,.0f} {actual:>9,.0f} {actual / rate:>7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", help="comma-separated corpus names")
    parser.add_argument("--work", default="runs/own-text")
    parser.add_argument(
        "--reuse", action="store_true", help="report a corpus's saved result instead of rerunning"
    )
    parser.add_argument(
        "--recalibrate",
        action="store_true",
        help="with --reuse: also the forecast the calibration gives now for each saved run",
    )
    args = parser.parse_args()
    data = Path(os.environ.get("SEQLM_DATA", "../shared/data"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    chosen = corpora(work, data)
    names = args.only.split(",") if args.only else list(chosen)
    print(
        f"seqlm train --max-minutes {args.minutes:g} --threads {args.threads}, default settings\n"
        f"{'corpus':<12} {'tokenizer':<11} {'nn bpb':>8} {'5g bpb':>8} {'mix bpb':>8}  "
        f"{'nn ppl':>8} {'5g ppl':>8} {'mix ppl':>8} {'tok/s':>8} {'fc tok/s':>9} "
        f"{'tokens':>10} {'fc tokens':>10}",
        flush=True,
    )
    sources = {name: chosen[name]() for name in names}
    for name in names:
        saved = work / f"{name}.json"
        if args.reuse and saved.exists():
            result = json.loads(saved.read_text())
        else:
            result = run(name, sources[name], work, args.minutes, args.threads)
        print(row(result), flush=True)
    if args.recalibrate:
        print(f"\nthe calibration now, {args.threads} threads: forecast vs the run's tokens/s")
        print(f"{'corpus':<12} {'forecast':>9} {'actual':>9} {'actual/forecast':>7}")
        for name in names:
            print(recalibrate(name, work, args.threads), flush=True)
    print("\nround trip (decode(encode(text)) == text, whole corpus):")
    for name, source in sources.items():
        print(f"{name:<12} {round_trip(source)}")


if __name__ == "__main__":
    main()
