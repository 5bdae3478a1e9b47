import json

import pytest
from conftest import write

from seqlm.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_data_stats_json_on_ptb(capsys, data_dir):
    code, out, _ = run(capsys, "data", "stats", "ptb", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["vocab_size"] == 10_000 and stats["tokens"]["test"] == 82_430


def test_data_stats_shows_the_synthetic_floor(capsys):
    code, out, _ = run(
        capsys, "data", "stats", "synthetic:train_tokens=5000,valid_tokens=1000,test_tokens=1000"
    )
    assert code == 0 and "entropy floor" in out and "perplexity" in out


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: str(p / "nope"), "no such file"),
        (lambda p: str(write(p / "e.txt", "")), "empty"),
        (lambda p: str(write(p / "b.bin", b"\x7fELF\x00\x01\n")), "binary"),
        (lambda p: str(write(p / "l.txt", b"na\xefve\n")), "not UTF-8"),
        (lambda p: str(write(p / "d" / "train.txt", "a\n").parent), "missing valid.txt"),
        (lambda p: "wikitext-3", "no such file, directory or dataset"),
        (lambda p: "synthetic:max_depth=x", "bad value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, make, message):
    code, out, err = run(capsys, "data", "stats", make(tmp_path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_data_download_finds_files_already_there_without_the_network(capsys, data_dir):
    code, out, _ = run(capsys, "data", "download", "ptb", "--json")
    files = json.loads(out)["files"]
    assert code == 0 and [f.rsplit("/", 1)[-1] for f in files] == [
        "train.txt",
        "valid.txt",
        "test.txt",
    ]


def test_data_download_of_an_unknown_name_is_a_usage_error(capsys):
    code, out, err = run(capsys, "data", "download", "wikitext-3")
    assert code == 2 and "invalid choice" in err and err.count("\n") == 1
