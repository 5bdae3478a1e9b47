"""The fault catalogue: every bad input and fault we know of, through the real CLI.

Each case runs `python -m seqlm ...` in a fresh workspace and prints one row: the case,
the exit code, the first line of stderr, whether a traceback appeared, whatever was left
half-written (temporary files), and whether the outcome is right: exit 2 with exactly one
line for bad input, or the correct result where the input is fine. Fault cases (kill -9,
SIGTERM, two runs on one directory) also check that the resumed model is identical to an
uninterrupted run's.

The cases live in tests/faults_cases.py, the table tests/test_faults.py runs a subset of
(importing it needs the test extra: pytest).

    python bench/faults.py            # all cases, a few minutes on 2 cores
    python bench/faults.py --only arpa
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from faults_cases import build_models, cases, fault_rows, format_rows, run_case  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="seqlm-faults-"))
    models = root / "models"
    build_models(models)
    rows = [
        run_case(case, root) for case in cases(models) if not args.only or args.only in case.name
    ]
    if not args.only or "fault" in args.only:
        rows += fault_rows(root, models)
    print(format_rows(rows))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
