"""`seqlm export MODEL --format onnx|torchscript|arpa --out FILE`."""

from __future__ import annotations

import argparse

from seqlm.cli.common import emit, json_flag


def register(commands) -> None:
    exp = commands.add_parser(
        "export",
        parents=[json_flag()],
        help="write a model for other runtimes: ONNX, TorchScript, ARPA",
        description="A neural LM becomes a step function with explicit state (tokens and "
        "each layer's state in; log-probabilities and the new state out) in ONNX or "
        "TorchScript, for streaming inference; an n-gram model becomes an ARPA file.",
    )
    exp.add_argument("model", metavar="MODEL", help="a model directory")
    exp.add_argument("--format", required=True, choices=["onnx", "torchscript", "arpa"])
    exp.add_argument("--out", required=True, metavar="FILE")
    exp.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from seqlm.export import export_model
    from seqlm.loading import load

    model = load(args.model, device="cpu")
    path = export_model(model, args.model, args.format, args.out)
    size = path.stat().st_size
    emit(
        args,
        {"out": str(path), "format": args.format, "bytes": size},
        f"wrote {path} ({args.format}, {size / 1e6:.1f} MB)",
    )
