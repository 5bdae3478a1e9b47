"""`seqlm probe NAME`: the long-range lab, one sub-command per probe with its own flags."""

from __future__ import annotations

import argparse

from seqlm.cli.common import Parser, emit, json_flag

MODELS_HELP = "model directories, ARPA files, or fresh:rnn|lstm|gru (untrained)"


def _common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--out",
        default="seqlm-probe",
        metavar="DIR",
        help="where JSON and plots go (default seqlm-probe)",
    )
    parent.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parent


def _on_models() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("models", nargs="*", metavar="MODEL", help=MODELS_HELP)
    parent.add_argument(
        "--data",
        dest="corpus",
        metavar="CORPUS",
        help="corpus (default: the first model's, else synthetic)",
    )
    parent.add_argument("--split", default="test", choices=["train", "valid", "test"])
    return parent


def _memory_flags(parser: argparse.ArgumentParser, lengths: str) -> None:
    parser.add_argument("--task", default="both", choices=["adding", "copy", "both"])
    parser.add_argument("--lengths", metavar="T[,T]", help=lengths)
    parser.add_argument("--steps", type=int, help="training steps per length, at most")


def register(commands) -> None:
    probe = commands.add_parser(
        "probe",
        help="long-range lab: gradients, context, dependency, gates, memory, forget-bias",
        description="Measure what the source notes claim: gradients vanish in a plain RNN "
        "(gradients), how much past each model uses (context), how each handles tokens fixed "
        "by a token far back, against the entropy floor (dependency; synthetic corpus); inside "
        "an LSTM: gate saturation and cells that track a property (gates); how long each cell "
        "holds a fact (memory: adding and copy tasks); forget-gate bias 0 vs 1.",
    ).add_subparsers(dest="probe", metavar="PROBE", required=True, parser_class=Parser)
    shared, models = [_common(), json_flag()], [_on_models(), _common(), json_flag()]
    p = probe.add_parser("gradients", parents=models, help="gradient norm by steps back")
    p.add_argument("--distance", type=int, default=50, help="steps back (K; default 50)")
    p.add_argument("--windows", type=int, default=32, help="windows averaged (default 32)")
    p = probe.add_parser("context", parents=models, help="loss when only k tokens are seen")
    p.add_argument("--samples", type=int, default=400, help="target tokens scored (default 400)")
    p.add_argument(
        "--shuffle-beyond", type=int, metavar="D", help="shuffle the tokens further back than D"
    )
    probe.add_parser("dependency", parents=models, help="loss on far-dependent tokens vs floor")
    p = probe.add_parser("gates", parents=models, help="inside one LSTM: gates and cells")
    p.add_argument("--text", metavar="FILE", help="the text to read (default: --split)")
    p.add_argument("--tokens", type=int, default=2000, help="tokens of text read (default 2000)")
    p.add_argument(
        "--property", metavar="P[,P]", help="line_position, in_quotes, bracket_depth (default: all)"
    )
    p.add_argument(
        "--cells", metavar="L:U[,L:U]", help="cells for the heatmap (default: the best-correlated)"
    )
    for name in ("gradients", "context", "dependency", "gates"):
        probe.choices[name].set_defaults(func=run_on_models)
    p = probe.add_parser("memory", parents=shared, help="adding and copy tasks by length T")
    p.add_argument("--cell", default="rnn,lstm,gru", help="cell types (default all)")
    _memory_flags(p, "T ladder (default 10,20,50,100,200, then doubling while solved)")
    p.set_defaults(func=run_memory)
    p = probe.add_parser("forget-bias", parents=shared, help="LSTM forget-gate bias 0 vs 1")
    _memory_flags(p, "lengths (default 50,100)")
    p.set_defaults(func=run_memory)


def run_on_models(args: argparse.Namespace) -> None:
    from seqlm.data.spec import CorpusSpec
    from seqlm.probe.run import run_model_probe

    options = {
        k: getattr(args, k, None)
        for k in (
            "split",
            "seed",
            "distance",
            "windows",
            "samples",
            "shuffle_beyond",
            "text",
            "tokens",
            "property",
            "cells",
        )
    }
    spec = CorpusSpec(args.corpus) if args.corpus else None
    results, lines, figures = run_model_probe(args.probe, args.models, spec, args.out, options)
    emit(args, {"probe": args.probe, "results": results, "figures": figures}, "\n".join(lines))


def run_memory(args: argparse.Namespace) -> None:
    from seqlm.probe.lab import memory_line
    from seqlm.probe.run import run_memory_probe

    lengths = _int_list(args.lengths, "--lengths") if args.lengths else None
    show = None if args.json else (lambda row: print(memory_line(row), flush=True))
    cells = args.cell.split(",") if args.probe == "memory" else ["lstm"]
    results, lines, figures = run_memory_probe(
        args.probe, cells, args.task, lengths, args.steps, args.seed, args.out, show
    )
    emit(args, {"probe": args.probe, "results": results, "figures": figures}, "\n".join(lines))


def _int_list(text: str, flag: str) -> tuple[int, ...]:
    from seqlm.io import SeqlmError

    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise SeqlmError(f"bad {flag} {text!r}: expected comma-separated integers") from None
    if not values or min(values) < 1:
        raise SeqlmError(f"bad {flag} {text!r}: values must be at least 1")
    return values
