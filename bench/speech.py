"""CTC decoding with pyctcdecode and seqlm language models: word error rate and speed.

    python bench/speech.py [--utterances 200] [--epochs 8]

The synthetic CTC problem of tests/speech_cases.py (ambiguous spellings that only a
language model resolves): WER and utterances/s without a language model, with a 5-gram
and with an LSTM trained on the same 100k-token synthetic corpus (one thread).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from speech_cases import problem  # noqa: E402

import seqlm  # noqa: E402
from seqlm.evaluate.wer import wer  # noqa: E402
from seqlm.speech import build_ctc_decoder  # noqa: E402

CORPUS = "synthetic:train_tokens=100000,valid_tokens=5000,test_tokens=20000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--beam-width", type=int, default=32)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--beta", type=float, default=1.0)
    args = parser.parse_args()
    import torch
    from pyctcdecode.alphabet import Alphabet
    from pyctcdecode.decoder import BeamSearchDecoderCTC

    torch.set_num_threads(1)
    corpus = seqlm.load_corpus(CORPUS)
    labels, utterances = problem(corpus, args.utterances)
    refs = [ref for ref, _ in utterances]
    frames = sum(len(e) for _, e in utterances)
    models = {"no LM": None, "5-gram": seqlm.ngram.build(corpus, order=5)}
    with tempfile.TemporaryDirectory() as tmp:
        seqlm.train(
            corpus, tmp + "/lstm", cell="lstm", epochs=args.epochs, threads=1, seed=1, mixture=False
        )
        models["LSTM"] = seqlm.load(tmp + "/lstm")
    print(
        f"{len(utterances)} utterances, {frames / len(utterances):.0f} frames each on "
        f"average, beam width {args.beam_width}, alpha {args.alpha}, beta {args.beta}"
    )
    for name, model in models.items():
        decoder = (
            BeamSearchDecoderCTC(Alphabet.build_alphabet(labels))
            if model is None
            else build_ctc_decoder(labels, model, alpha=args.alpha, beta=args.beta)
        )
        start = time.perf_counter()
        hyps = [decoder.decode(e, beam_width=args.beam_width) for _, e in utterances]
        seconds = time.perf_counter() - start
        print(f"{name:7s} WER {wer(refs, hyps):.3f}  {len(utterances) / seconds:7.1f} utterances/s")


if __name__ == "__main__":
    main()
