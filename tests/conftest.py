import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
os.environ.setdefault("SEQLM_DATA", str(SHARED_DATA))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Corpus caches go to a fresh directory, so tests never see a stale entry."""
    os.environ["SEQLM_CACHE"] = str(tmp_path_factory.mktemp("cache"))


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
