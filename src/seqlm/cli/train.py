"""`seqlm train`: a recurrent LM with truncated BPTT; `--resume DIR` continues exactly."""

from __future__ import annotations

import argparse

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag, show_progress
from seqlm.io import SeqlmError
from seqlm.settings import add_flags, given
from seqlm.train.config import PRESETS, TrainConfig


def register(commands) -> None:
    tr = commands.add_parser(
        "train",
        parents=[corpus_flags(positional=False), json_flag()],
        help="train an RNN, LSTM or GRU language model",
        description="Train a recurrent LM with truncated BPTT. Defaults come from the corpus "
        "(ptb, tinyshakespeare, synthetic presets) or --preset, then --config FILE.toml, then "
        "the flags below; the defaults shown are the settings' own, which a preset (or, for a "
        "corpus without one, a recipe picked from its size and the budget) replaces. "
        "Checkpoints are atomic; Ctrl-C or SIGTERM saves; --resume DIR continues exactly.",
    )
    tr.add_argument("--out", metavar="DIR", help="model directory to write")
    tr.add_argument("--resume", metavar="DIR", help="continue the run in DIR where it stopped")
    tr.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run over the model in --out DIR (deleted as the run starts)",
    )
    tr.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="start from these defaults instead of the corpus's (ptb-small: "
        "Zaremba et al. 2014 small)",
    )
    tr.add_argument("--config", metavar="FILE", help="TOML file of settings ([train] table)")
    add_flags(tr, TrainConfig)
    tr.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from seqlm.data import load_corpus
    from seqlm.train import make_config, train
    from seqlm.train.calibrate import rate_of
    from seqlm.train.run import check_new_run

    settings = given(args, TrainConfig)
    if args.resume:
        result = train(
            args.corpus,
            args.out,
            resume=args.resume,
            preset=args.preset,
            config_file=args.config,
            progress=show_progress(args),
            **settings,
        )
    else:
        if args.corpus is None or args.out is None:
            raise SeqlmError("seqlm train needs --data CORPUS and --out DIR (or --resume DIR)")
        TrainConfig.from_flat(settings, "flags")  # every flag checked before any work
        check_new_run(args.out, args.overwrite)
        corpus = load_corpus(corpus_spec(args))
        rate = rate_of(corpus.vocab, settings.get("threads", 0))  # None: calibration off
        config = make_config(corpus, args.config, settings, args.preset, rate=rate)
        result = train(
            corpus,
            args.out,
            config=config,
            progress=show_progress(args),
            mixture=args.preset is None,
            overwrite=args.overwrite,
        )
    if result is None:  # a non-zero rank of a distributed run
        return
    lines = [
        f"{result.cell} ({result.parameters:,} parameters) on {result.test.corpus}: stopped "
        f"({result.stop}) after {result.steps:,} steps, {result.tokens:,} tokens, "
        f"{result.train_seconds / 60:.1f} min ({result.tokens_per_s:,.0f} tokens/s)",
    ]
    wall = result.train_seconds + result.eval_seconds
    lines.append(
        f"validation took {result.eval_seconds:.0f} s, {result.eval_seconds / max(wall, 1e-9):.0%} "
        "of the wall time; the figures below score the best checkpoint on whole splits"
    )
    for r in (result.valid, result.test):
        extra = f", {r.bits_per_char:.4f} bits/char" if r.bits_per_char is not None else ""
        floor = f" (floor {r.floor_perplexity:.3f})" if r.floor_perplexity is not None else ""
        lines.append(f"best checkpoint: {r.split} perplexity {r.perplexity}{extra}{floor}")
        if r.perplexity is not None:
            lines.append(f"  {r.text_line()}")
    lines.append(f"wrote {result.out}/model.safetensors, config.json, vocab.json, metrics.jsonl")
    if result.mixture:  # a corpus without a preset: the LSTM, its 5-gram and their mixture
        from seqlm.evaluate.mixture import describe

        lines += describe(result.mixture)
    if result.stop == "interrupted":
        lines.append(f"interrupted: resume with  seqlm train --resume {result.out}")
    emit(args, result.to_json(), "\n".join(lines))
    if result.stop == "interrupted":
        raise KeyboardInterrupt
