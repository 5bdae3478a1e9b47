"""`seqlm data stats CORPUS`: token counts, vocabulary, OOV rates, the entropy floor;
`seqlm data download NAME`: fetch a named dataset (verified) into the data directory."""

from __future__ import annotations

import argparse

from seqlm.cli.common import corpus_flags, corpus_spec, emit, json_flag


def register(commands) -> None:
    data = commands.add_parser("data", help="inspect corpora").add_subparsers(
        dest="data_command", metavar="SUBCOMMAND", required=True
    )
    stats = data.add_parser(
        "stats",
        parents=[corpus_flags(), json_flag()],
        help="token counts, vocabulary, OOV rate; the entropy floor of 'synthetic'",
        description="Print token counts, vocabulary size, OOV rates, type/token ratio and, for "
        "the synthetic corpus, the entropy floor no model can beat.",
    )
    stats.set_defaults(func=run_stats)
    from seqlm.data.download import DATASETS

    download = data.add_parser(
        "download",
        parents=[json_flag()],
        help="download a named dataset into $SEQLM_DATA (checked against its digest)",
        description="Fetch the files of a named dataset that are not there yet, verify each "
        "against its published digest and put it under the data directory ($SEQLM_DATA, "
        "default a user cache folder). Commands that name a dataset do this on demand; this "
        "command does it ahead of time (say, before going offline).",
    )
    download.add_argument(
        "name",
        metavar="NAME",
        choices=sorted(DATASETS),
        help=f"one of {', '.join(sorted(DATASETS))}",
    )
    download.set_defaults(func=run_download)


def run_stats(args: argparse.Namespace) -> None:
    from seqlm.data import load_corpus

    s = load_corpus(corpus_spec(args)).stats()
    lines = [
        f"corpus          {s['corpus']} ({s['level']} level, tokenizer {s['tokenizer']})",
        f"vocabulary      {s['vocab_size']:,} types",
        "tokens          " + "  ".join(f"{k} {v:,}" for k, v in s["tokens"].items()),
        f"type/token      {s['type_token_ratio']:.4f} (train)",
        "OOV rate        " + "  ".join(f"{k} {v:.2%}" for k, v in s["oov_rate"].items()),
        "<unk> rate      " + "  ".join(f"{k} {v:.2%}" for k, v in s["unk_rate"].items()),
    ]
    for split, floor in s.get("entropy_floor", {}).items():
        lines.append(
            f"entropy floor   {split:5s} {floor['nats_per_token']:.4f} nats/token = perplexity "
            f"{floor['perplexity']:.3f}; {floor['dependent_tokens']:,} long-range-dependent "
            f"tokens, up to {floor['max_distance']} back"
        )
    emit(args, s, "\n".join(lines))


def run_download(args: argparse.Namespace) -> None:
    from seqlm.data.download import dataset_files

    dataset, paths = dataset_files(args.name)
    lines = [f"{dataset.name}: {dataset.description}"]
    lines += [f"  {p} ({p.stat().st_size:,} bytes)" for p in paths]
    emit(args, {"dataset": dataset.name, "files": [str(p) for p in paths]}, "\n".join(lines))
