"""`seqlm probe NAME`: the long-range lab, one sub-command per probe with its own flags."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from seqlm.cli.common import Parser, emit, json_flag
from seqlm.probe.config import SETTINGS
from seqlm.settings import add_flags, from_args

MODELS_HELP = "model directories, ARPA files, or fresh:CELL, e.g. fresh:lstm (untrained)"


def _common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--out",
        default="seqlm-probe",
        metavar="DIR",
        help="where JSON and plots go (default seqlm-probe)",
    )
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
    for name, what in [
        ("gradients", "gradient norm by steps back"),
        ("context", "loss when only k tokens are seen"),
        ("dependency", "loss on far-dependent tokens vs floor"),
        ("gates", "inside one LSTM: gates and cells"),
    ]:
        p = probe.add_parser(name, parents=models, help=what)
        add_flags(p, SETTINGS[name])
        p.set_defaults(func=run_on_models)
    p = probe.add_parser("memory", parents=shared, help="adding and copy tasks by length T")
    p.add_argument("--cell", default="rnn,lstm,gru", help="cell types (default all)")
    add_flags(p, SETTINGS["memory"])
    p.set_defaults(func=run_memory)
    p = probe.add_parser("forget-bias", parents=shared, help="LSTM forget-gate bias 0 vs 1")
    add_flags(p, SETTINGS["forget-bias"])
    p.set_defaults(func=run_memory)


def run_on_models(args: argparse.Namespace) -> None:
    from seqlm.data.spec import CorpusSpec
    from seqlm.probe.run import run_model_probe

    settings = from_args(SETTINGS[args.probe], args)  # every range checked before any work
    options = {"split": args.split, **asdict(settings)}
    spec = CorpusSpec(args.corpus) if args.corpus else None
    results, lines, figures = run_model_probe(args.probe, args.models, spec, args.out, options)
    emit(args, {"probe": args.probe, "results": results, "figures": figures}, "\n".join(lines))


def run_memory(args: argparse.Namespace) -> None:
    from seqlm.probe.lab import memory_line
    from seqlm.probe.run import run_memory_probe

    s = from_args(SETTINGS[args.probe], args)  # every range checked before any training
    show = None if args.json else (lambda row: print(memory_line(row), flush=True))
    cells = args.cell.split(",") if args.probe == "memory" else ["lstm"]
    lengths = tuple(s.lengths) or None
    results, lines, figures = run_memory_probe(
        args.probe, cells, s.task, lengths, s.steps, s.seed, args.out, show
    )
    emit(args, {"probe": args.probe, "results": results, "figures": figures}, "\n".join(lines))
