"""What `seqlm train --data CORPUS --max-minutes M` gives without a preset, beside a 5-gram.

    python bench/defaults.py ptb-dir ptb200k tinyshakespeare:word --minutes 15 --threads 1

Each corpus is trained with nothing but a time budget (and a thread count), so the model,
dropout, optimiser and schedule are what seqlm picks for that corpus: its own preset for a
named corpus at its level (`ptb`), otherwise the recipe fitted to its size
(`seqlm.train.recipe`). Printed per corpus: the settings picked, steps, tokens/s, the
share of wall time spent validating, valid/test perplexity of the best checkpoint (whole
splits), and the modified Kneser-Ney 5-gram built from the same training split.

Corpus names: a named dataset (`ptb`, `tinyshakespeare`, with `:word`/`:char` for the
level), `ptb-dir` (PTB's three files as a plain directory, so that no preset applies) and
`ptb200k` (the first ~200K tokens of PTB train, with PTB's valid and test), both made in
a temporary directory. Several corpora run side by side, one process each
(`--threads` each); give as many as the cores allow.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# the project's data beside the checkout unless $SEQLM_DATA says otherwise
os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))

CHILD = r"""
import json, logging, sys
import seqlm
from seqlm.data import load_corpus
from seqlm.data.spec import CorpusSpec
from seqlm.ngram import build
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
source, level, out, minutes, threads = sys.argv[1:6]
corpus = load_corpus(CorpusSpec(source, level or None))
result = seqlm.train(corpus, out, max_minutes=float(minutes), threads=int(threads))
config = json.load(open(f"{out}/config.json"))
ngram = build(corpus, 5)
print(json.dumps({
    "train_tokens": len(corpus["train"]), "vocab": len(corpus.vocab),
    "model": config["model"], "train": config["train"], "result": result.to_json(),
    "ngram_valid": seqlm.evaluate(ngram, corpus, "valid").perplexity,
    "ngram_test": seqlm.evaluate(ngram, corpus, "test").perplexity,
}))
"""


def prepare(name: str, work: Path) -> tuple[str, str]:
    """(source, level) for a corpus name; the plain-directory corpora are written here."""
    source, _, level = name.partition(":")
    if source not in ("ptb-dir", "ptb200k"):
        return source, level
    ptb = Path(os.environ["SEQLM_DATA"]) / "ptb"
    target = work / source
    target.mkdir(parents=True, exist_ok=True)
    for split in ("valid", "test"):
        shutil.copy(ptb / f"{split}.txt", target / f"{split}.txt")
    if source == "ptb-dir":
        shutil.copy(ptb / "train.txt", target / "train.txt")
    else:  # whole lines up to ~200K tokens (each line's words and its end)
        lines, tokens = [], 0
        with open(ptb / "train.txt", encoding="utf-8") as f:
            for line in f:
                lines.append(line)
                tokens += len(line.split()) + 1
                if tokens >= 200_000:
                    break
        (target / "train.txt").write_text("".join(lines), encoding="utf-8")
    return str(target), level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="+")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=1, help="threads per corpus")
    parser.add_argument("--workdir", help="where models go (default: a temporary directory)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="seqlm-defaults-"))
    procs = {}
    for name in args.corpora:
        source, level = prepare(name, work)
        out = work / ("run-" + name.replace(":", "-"))
        shutil.rmtree(out, ignore_errors=True)
        log = open(work / f"{out.name}.log", "w")  # noqa: SIM115
        procs[name] = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                source,
                level,
                str(out),
                str(args.minutes),
                str(args.threads),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    report = {}
    for name, proc in procs.items():
        out, _ = proc.communicate()
        if proc.returncode:
            print(f"{name}: failed (see {work}/run-{name.replace(':', '-')}.log)")
            continue
        report[name] = r = json.loads(out.strip().splitlines()[-1])
        res, m, t = r["result"], r["model"], r["train"]
        wall = res["train_seconds"] + res["eval_seconds"]
        print(
            f"{name}: {r['train_tokens']:,} training tokens, vocabulary {r['vocab']:,}\n"
            f"  picked: {m['layers']}x{m['hidden']} {m['cell']}, dropout {m['dropout']}, "
            f"weight drop {m['weight_drop']}, {t['optimizer']} lr {t['lr']}, "
            f"batch {t['batch_size']}, {'adaptive softmax' if m['adaptive_cutoffs'] else 'tied' if m['tied'] else 'full softmax'}\n"
            f"  {res['steps']} steps, {res['tokens']:,} tokens ({res['tokens'] / r['train_tokens']:.1f} epochs), "
            f"{res['tokens_per_s']:,.0f} tokens/s, validation {res['eval_seconds']:.0f} s of "
            f"{wall:.0f} s ({res['eval_seconds'] / wall:.1%})\n"
            f"  LSTM   valid {res['valid']['perplexity']:8.2f}  test {res['test']['perplexity']:8.2f}\n"
            f"  5-gram valid {r['ngram_valid']:8.2f}  test {r['ngram_test']:8.2f}   "
            f"LSTM {'below' if res['test']['perplexity'] < r['ngram_test'] else 'NOT below'} the 5-gram on test"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
