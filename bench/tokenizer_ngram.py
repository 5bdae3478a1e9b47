"""Which tokenizer gives a 5-gram the fewest bits per byte? Every tokenizer on each corpus.

    python bench/tokenizer_ngram.py [--work runs/own-text] [--bpe 8000]

The corpora of bench/own_text.py (run it first: it assembles them in --work), each
tokenized by `whitespace`, `words`, `bpe:N`, `chars` and `bytes`; a 5-gram (modified
Kneser-Ney) trained on the train split, scored on test: bits per byte of the original
text (the one yardstick across tokenizers), and the share of `<unk>` tokens (closed
vocabularies only; a model that maps text to `<unk>` scores optimistically).
The n-gram half of the tokenizer rule: it measures no neural model.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import seqlm
from seqlm.data.tokenizers import BPE, make
from seqlm.evaluate import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="runs/own-text")
    parser.add_argument("--bpe", type=int, default=8000)
    parser.add_argument("--order", type=int, default=5)
    args = parser.parse_args()
    data = Path(os.environ.get("SEQLM_DATA", "../shared/data"))
    work = Path(args.work)
    corpora = {
        "shakespeare": data / "tinyshakespeare" / "input.txt",
        "docstrings": work / "docstrings.txt",
        "manpages": work / "manpages.txt",
        "ptb": data / "ptb",
        "fortunes": work / "fortunes.txt",
    }
    tokenizers = ["whitespace", "words", f"bpe:{args.bpe}", "chars", "bytes"]
    print(f"{args.order}-gram test bits per byte (<unk> share) by tokenizer")
    print(f"{'corpus':<12}" + "".join(f"{t:>18}" for t in tokenizers) + "   best open  best closed")
    for name, source in corpora.items():
        if not source.exists():
            print(f"{name:<12} missing: {source}")
            continue
        cells, scores, closed = [], {}, set()
        for tokenizer in tokenizers:
            start = time.time()
            corpus = seqlm.load_corpus(str(source), tokenizer=tokenizer)
            model = seqlm.ngram.build(corpus, order=args.order)
            result = evaluate(model, corpus, "test")
            scores[tokenizer] = result.bits_per_byte
            if not (BPE if tokenizer.startswith("bpe:") else make(tokenizer)).open_vocabulary:
                closed.add(tokenizer)
            unk = f"{result.unk_share:.1%}" if result.unk_share else "0"
            cells.append(f"{result.bits_per_byte:.4f} ({unk})")
            print(f"  {name} {tokenizer}: {time.time() - start:.0f} s", flush=True)
        # a closed vocabulary scores its <unk> as one token: never ranked with open ones
        best_open = min(set(scores) - closed, key=scores.get)
        best_closed = min(closed, key=scores.get)
        row = "".join(f"{c:>18}" for c in cells)
        print(f"{name:<12}{row}   {best_open:<10} {best_closed}", flush=True)


if __name__ == "__main__":
    main()
