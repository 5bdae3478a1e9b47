"""Model directories written by an earlier seqlm (format 2, before one class per cell and
the trainer's typed progress) load, score and resume with today's code.

The fixtures were written by seqlm at commit 76a8ea8 with
    seqlm train --data CORPUS --out lstm --embed 8 --hidden 8 --layers 1 --max-tokens 3000
    seqlm ngram train CORPUS --order 3 --out ngram3
and the figures below are what that version's `seqlm eval --split valid` printed."""

import shutil
from pathlib import Path

import pytest

import seqlm
from seqlm.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "format2"
CORPUS = "synthetic:train_tokens=3000,valid_tokens=500,test_tokens=500"
WRITTEN_THEN = {"lstm": 5.135343, "ngram3": 4.161437}  # valid nats/token


@pytest.fixture
def copies(tmp_path):
    """Copies, so that nothing a test does reaches the committed fixtures."""
    for name in WRITTEN_THEN:
        shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("name", sorted(WRITTEN_THEN))
def test_old_directories_score_what_they_scored(copies, name):
    lm = seqlm.load(copies / name)
    result = seqlm.evaluate(lm, seqlm.load_corpus(CORPUS), "valid")
    assert result.nats_per_token == pytest.approx(WRITTEN_THEN[name], abs=2e-6)


def test_old_run_resumes(copies, capsys):
    code = main(["train", "--resume", str(copies / "lstm"), "--max-tokens", "4000", "--json"])
    assert code == 0, capsys.readouterr().err
    assert seqlm.load(copies / "lstm").num_parameters() > 0
