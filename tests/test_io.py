import os
import subprocess
import sys
import time

import pytest

from seqlm.io import TEMP_NAME, atomic_write, atomic_write_text, pid_alive, sweep_stale_temporaries


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_names_carry_the_pid(tmp_path):
    seen = []
    atomic_write(tmp_path / "a.b.json", lambda tmp: (seen.append(tmp), open(tmp, "w").close()))
    name = os.path.basename(seen[0])
    match = TEMP_NAME.match(name)
    assert match and match["name"] == "a.b.json" and int(match["pid"]) == os.getpid()
    assert (tmp_path / "a.b.json").exists() and not os.path.exists(seen[0])


def test_failed_write_leaves_no_temporary(tmp_path):
    def fail(tmp):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "x.txt", fail)
    assert list(tmp_path.iterdir()) == []


def test_sweep_removes_only_temporaries_of_dead_writers(tmp_path):
    dead = _dead_pid()
    assert not pid_alive(dead) and pid_alive(os.getpid())
    stale_file = tmp_path / f".ckpt.safetensors.{dead}.k3j_x9aa.tmp"
    stale_dir = tmp_path / f".0123abcd.{dead}.zz0q1w2e.tmp"
    live = tmp_path / f".ckpt.safetensors.{os.getpid()}.abcdefgh.tmp"
    others = [tmp_path / "ckpt.safetensors", tmp_path / ".hidden", tmp_path / f"x.{dead}.a.tmp"]
    for path in [stale_file, live, *others]:
        path.write_text("x")
    stale_dir.mkdir()
    (stale_dir / "train.npy").write_text("x")
    recent = tmp_path / f".vocab.json.{dead}.abcdefgh.tmp"  # perhaps another machine's writer
    recent.write_text("x")
    hour_ago = time.time() - 3600
    for path in [stale_file, stale_dir, live, *others]:
        os.utime(path, (hour_ago, hour_ago))
    removed = sweep_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert sorted(tmp_path.iterdir()) == sorted([live, recent, *others])
    assert sweep_stale_temporaries(tmp_path, min_age_s=0) == [recent]
    assert sweep_stale_temporaries(tmp_path / "missing") == []


def test_atomic_write_text_round_trip(tmp_path):
    atomic_write_text(tmp_path / "sub" / "t.txt", "héllo")
    assert (tmp_path / "sub" / "t.txt").read_text(encoding="utf-8") == "héllo"
