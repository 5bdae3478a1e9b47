"""`seqlm verify DIR`: every file of a model directory against its manifest, every digest
and every table entry (loading checks only what keeps it instant: `seqlm.manifest`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqlm.cli.common import emit, json_flag
from seqlm.io import SeqlmError


def register(commands) -> None:
    ver = commands.add_parser(
        "verify",
        parents=[json_flag()],
        help="check a model directory's files against its manifest, in full",
        description="Checks the size and SHA-256 of every file that manifest.json lists "
        "(loading hashes only the first 64 MiB, smallest files first), then loads the model "
        "checking every table entry and weight. Prints one line per file and a verdict; "
        "exit code 2 if anything is wrong.",
    )
    ver.add_argument("model", metavar="MODEL", help="a model directory")
    ver.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from seqlm.loading import load
    from seqlm.manifest import MANIFEST, inspect

    root = Path(args.model)
    if not root.is_dir():
        raise SeqlmError(f"{root}: not a model directory")
    folders = [root, *sorted(p.parent for p in root.glob("*/config.json"))]  # mixture parts
    rows = []
    for folder in folders:
        checked = inspect(folder, full=True)
        if checked is None:
            rows.append((str(folder / MANIFEST), "missing (older directory: digests unchecked)"))
        rows += [(str(folder / name), verdict) for name, verdict in checked or []]
    bad = [
        f"{path}: {verdict}" for path, verdict in rows if verdict != "ok" and MANIFEST not in path
    ]
    if not bad:
        try:
            load(root, verify=True)
        except SeqlmError as e:
            bad.append(str(e))
    verdict = bad[0] if bad else "ok"
    if args.json:
        emit(args, {"model": str(root), "files": dict(rows), "verdict": verdict}, "")
    else:
        print("\n".join(f"{path}: {verdict}" for path, verdict in rows))
    if bad:
        raise SeqlmError(bad[0])
    if not args.json:
        print(f"{root}: ok")
