"""`seqlm ngram train CORPUS --order N --out DIR`: count, smooth, write ARPA."""

from __future__ import annotations

import argparse

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag
from seqlm.ngram.smoothing import SMOOTHINGS


def register(commands) -> None:
    ngram = commands.add_parser("ngram", help="count-based n-gram models").add_subparsers(
        dest="ngram_command", metavar="SUBCOMMAND", required=True
    )
    train = ngram.add_parser(
        "train",
        parents=[corpus_flags(), json_flag()],
        help="train an n-gram model (modified Kneser-Ney by default) and write ARPA",
        description="Count n-grams of CORPUS's training split, smooth them and write "
        "DIR/model.arpa (usable by KenLM, SRILM and ASR toolkits), vocab.json and config.json.",
    )
    train.add_argument("--order", type=int, default=3, help="n (default 3)")
    train.add_argument(
        "--smoothing",
        default="mkn",
        choices=SMOOTHINGS,
        help="mkn: interpolated modified Kneser-Ney as KenLM (default); kn: one discount per "
        "order; wb: Witten-Bell; add-k; ml: maximum likelihood (unseen events get "
        "probability 0: perplexity inf)",
    )
    train.add_argument("--k", type=float, default=1.0, help="k of add-k (default 1)")
    train.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    train.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> None:
    from seqlm.data import load_corpus
    from seqlm.evaluate import evaluate
    from seqlm.ngram import build

    corpus = load_corpus(corpus_spec(args))
    model = build(corpus, args.order, args.smoothing, args.k)
    model.save(args.out)
    valid = evaluate(model, corpus, "valid")
    seconds, counts = model.info["train_seconds"], model.info["ngrams"]
    payload = {
        "out": str(args.out),
        "order": args.order,
        "smoothing": args.smoothing,
        "ngrams": counts,
        "train_seconds": seconds,
        "valid": valid.to_json(),
    }
    ppl = valid.perplexity
    text = (
        f"trained {args.order}-gram ({args.smoothing}) on {corpus.name} in {seconds:.2f} s: "
        + ", ".join(f"{n:,} {i}-grams" for i, n in enumerate(counts, 1))
        + f"\nvalid perplexity {ppl if ppl is not None else 'inf (unseen events)'}"
        + f"\nwrote {args.out}/model.arpa, vocab.json, config.json"
    )
    emit(args, payload, text)
