"""N-best rescoring with a 5-gram, an LSTM and both: when does the pair beat either alone?

    python bench/rescore.py [--utterances 200] [--epochs 1,2,3,4,8]

The synthetic n-best lists of tests/rescore_cases.py (swapped neighbours, which an n-gram
sees; verbs of the wrong number, whose evidence can be far back), a 5-gram and LSTMs
trained for more and more epochs on the same 100k-token synthetic corpus (one thread).
Weights are tuned on the dev list only; the WER is the test list's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rescore_cases import nbest, rescore_each  # noqa: E402
from speech_cases import sentences  # noqa: E402

import seqlm  # noqa: E402

CORPUS = "synthetic:train_tokens=100000,valid_tokens=5000,test_tokens=5000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--epochs", default="1,2,3,4,8")
    args = parser.parse_args()
    corpus = seqlm.load_corpus(CORPUS)
    dev = nbest(sentences(corpus, "valid", args.utterances), seed=1)
    test = nbest(sentences(corpus, "test", args.utterances), seed=2)
    print(f"{args.utterances} dev and {args.utterances} test utterances, {CORPUS}")
    print(f"{'LSTM epochs':>11} {'5-gram':>8} {'LSTM':>8} {'pair':>8}  pair's weights (dev)")
    with tempfile.TemporaryDirectory() as tmp:
        seqlm.ngram.build(corpus, order=5).save(Path(tmp) / "5gram")
        ngram = seqlm.load(Path(tmp) / "5gram")
        for epochs in map(int, args.epochs.split(",")):
            out = Path(tmp) / f"lstm{epochs}"
            seqlm.train(corpus, out, cell="lstm", epochs=epochs, threads=1, seed=1, mixture=False)
            lstm = seqlm.load(out)
            runs = rescore_each(dev, test, lstm, ngram)
            wers = [runs[k].test.after for k in ("5-gram", "lstm", "both")]
            weights = ", ".join(f"{k} {v:g}" for k, v in runs["both"].weights.items())
            print(f"{epochs:>11} {wers[0]:>8.4f} {wers[1]:>8.4f} {wers[2]:>8.4f}  {weights}")
        print(f"first pass {runs['both'].test.before:.4f}, oracle {runs['both'].test.oracle:.4f}")


if __name__ == "__main__":
    main()
