import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
os.environ.setdefault("SEQLM_DATA", str(SHARED_DATA))
# no calibration: the recipe's model and the forecast never depend on the machine
# (tests that measure turn it on themselves)
os.environ["SEQLM_CALIBRATE"] = "0"


def synthetic(train: int, valid: int, test: int) -> str:
    """The spec of a synthetic corpus with these split sizes (in tokens)."""
    return f"synthetic:train_tokens={train},valid_tokens={valid},test_tokens={test}"


# The corpora the tests train and score on (the synthetic corpus: no data files needed)
SMALL = synthetic(20_000, 3_000, 3_000)
SMALL_2K = synthetic(20_000, 2_000, 2_000)  # shorter valid/test splits
MEDIUM = synthetic(30_000, 3_000, 3_000)
MINI = synthetic(3_000, 500, 500)

# `seqlm train` flags for a tiny LSTM run of 60 steps that checkpoints every 10: what the
# fault tests (and bench/faults.py) kill, resume and compare with an uninterrupted run
TINY_RUN = [
    "--data",
    SMALL_2K,
    "--cell",
    "lstm",
    "--embed",
    "12",
    "--hidden",
    "24",
    "--layers",
    "1",
    "--batch-size",
    "8",
    "--bptt",
    "20",
    "--max-steps",
    "60",
    "--checkpoint-every",
    "10",
    "--eval-every",
    "20",
    "--log-every",
    "5",
    "--threads",
    "1",
    "--seed",
    "5",
    "--optimizer",
    "adamw",
    "--lr",
    "0.01",
    "--dropout",
    "0.1",
]


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Corpus caches go to a fresh directory, so tests never see a stale entry."""
    os.environ["SEQLM_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def small_corpus():
    """SMALL, loaded once for the whole session (read-only: do not modify it)."""
    from seqlm.data import load_corpus

    return load_corpus(SMALL)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["SEQLM_DATA"])
    if not (path / "ptb" / "train.txt").exists():
        pytest.skip(f"shared data not found under {path} (set SEQLM_DATA)")
    return path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def bounded(n: int):
    """Hypothesis settings for CI: n examples, derandomized (every run checks the same
    cases), no deadline, no example database."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
