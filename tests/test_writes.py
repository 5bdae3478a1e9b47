"""Writes that never destroy what is not theirs: no model replaced without `--overwrite`,
no device, FIFO, directory or link replaced by a file, one line naming the destination
when the disk is full (nothing half-written left), no spill folder left after a kill."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_RUN, synthetic

from seqlm.cli import main
from seqlm.io import SeqlmError, atomic_write_text, check_output_file

ARPA = (
    "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1.0\t<s>\t-0.3\n-0.5\ta\t-0.2\n"
    "-0.6\tb\n-0.7\t</s>\n\n\\2-grams:\n-0.2\t<s> a\n-0.3\ta b\n\n\\end\\\n"
)
SPILL = synthetic(60_000, 500, 500)  # with --memory 1M: counted in ~20 chunks, spilled


def cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def arpa(tmp_path) -> Path:
    path = tmp_path / "m.arpa"
    path.write_text(ARPA)
    return path


def temporaries(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# -- 1. models are never overwritten without a word ----------------------------------------
def fake_run(directory: Path, kind: str = "lstm") -> None:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"kind": kind, "format_version": 2}))
    (directory / "trainer.safetensors").write_bytes(b"state")
    (directory / "model.safetensors").write_bytes(b"weights")


def test_convert_twice_into_one_directory_is_refused_then_replaced_with_overwrite(capsys, tmp_path):
    out = tmp_path / "m"
    assert cli(capsys, "ngram", "convert", arpa(tmp_path), out)[0] == 0
    before = sorted(p.name for p in out.iterdir())
    code, err = cli(capsys, "ngram", "convert", arpa(tmp_path), out)
    assert code == 2 and f"{out}: already holds a model (ngram)" in one_line(err)
    assert "--overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == before
    code, err = cli(capsys, "ngram", "convert", arpa(tmp_path), out, "--overwrite", "--arpa")
    assert code == 0, err
    assert (out / "model.arpa").exists() and not temporaries(tmp_path)


@pytest.mark.parametrize("command", ["convert", "train"])
def test_an_ngram_command_over_a_training_run_leaves_it_alone(capsys, tmp_path, command):
    run = tmp_path / "run"
    fake_run(run)
    argv = (
        ["ngram", "convert", arpa(tmp_path), run]
        if command == "convert"
        else ["ngram", "train", synthetic(2000, 300, 300), "--order", "2", "--out", run]
    )
    code, err = cli(capsys, *argv)
    assert code == 2 and f"{run}: already holds a training run (lstm)" in one_line(err)
    assert "--resume" in err and "--overwrite" in err
    assert json.loads((run / "config.json").read_text())["kind"] == "lstm"
    assert (run / "trainer.safetensors").read_bytes() == b"state"


def test_train_over_an_ngram_model_is_refused_before_any_work(capsys, tmp_path):
    out = tmp_path / "ng"
    assert cli(capsys, "ngram", "convert", arpa(tmp_path), out)[0] == 0
    code, err = cli(capsys, "train", "--data", "no/such/corpus", "--out", out)
    assert code == 2 and f"{out}: already holds a model (ngram)" in one_line(err)
    assert json.loads((out / "config.json").read_text())["kind"] == "ngram"


def test_a_folder_of_other_files_is_refused_even_with_overwrite(capsys, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8")
    for extra in ([], ["--overwrite"]):
        code, err = cli(capsys, "ngram", "convert", arpa(tmp_path), other, *extra)
        assert code == 2 and f"{other}: not empty and not a model directory" in one_line(err)
    assert [p.name for p in other.iterdir()] == ["cat.jpg"]
    (tmp_path / "file").write_text("x")
    code, err = cli(capsys, "ngram", "convert", arpa(tmp_path), tmp_path / "file")
    assert code == 2 and "exists and is not a directory" in one_line(err)


def test_an_empty_directory_takes_a_model(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert cli(capsys, "ngram", "convert", arpa(tmp_path), tmp_path / "empty")[0] == 0
    assert (tmp_path / "empty" / "config.json").exists()


def test_a_failed_save_with_overwrite_keeps_the_old_model(tmp_path, monkeypatch):
    import seqlm.ngram.model as ngram_model
    from seqlm.ngram import NgramLM, convert

    out = tmp_path / "m"
    convert(arpa(tmp_path), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    model = NgramLM.load(out, mmap=False)
    with pytest.raises(SeqlmError, match="already holds a model"):
        model.save(out)

    def full(tables, directory, quantize):
        (Path(directory) / "ngram1.keys.npy").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(directory) + "/x.tmp")

    monkeypatch.setattr(ngram_model, "save_tables", full)
    with pytest.raises(OSError) as failure:
        model.save(out, overwrite=True)
    assert failure.value.errno == errno.ENOSPC and failure.value.filename == str(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old model, intact
    assert not temporaries(tmp_path)


def test_new_runs_start_only_where_no_model_is(tmp_path):
    from seqlm.train.run import check_new_run

    run = tmp_path / "run"
    fake_run(run)
    with pytest.raises(SeqlmError, match="continue it with --resume"):
        check_new_run(run)
    assert check_new_run(run, overwrite=True) == run
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / ".lock").write_text("")  # what a released run leaves
    assert check_new_run(tmp_path / "fresh") == tmp_path / "fresh"


def test_train_overwrite_starts_a_new_run_over_an_old_model(capsys, tmp_path):
    run = tmp_path / "run"
    fake_run(run)
    (run / "mixture").mkdir()
    argv = ["train", *TINY_RUN, "--max-steps", "2", "--out", run, "--json"]
    code, err = cli(capsys, *argv)
    assert code == 2 and "--overwrite" in one_line(err)
    assert (run / "trainer.safetensors").read_bytes() == b"state"
    code, err = cli(capsys, *argv, "--overwrite")
    assert code == 0, err
    assert (run / "trainer.safetensors").read_bytes() != b"state"
    assert json.loads((run / "trainer.json").read_text())["step"] == 2


# -- 2. outputs replace only regular files -------------------------------------------------
@pytest.mark.parametrize("what", ["fifo", "device", "directory", "symlink"])
def test_export_never_replaces_what_is_not_a_regular_file(capsys, tmp_path, what):
    model = tmp_path / "m"
    assert cli(capsys, "ngram", "convert", arpa(tmp_path), model)[0] == 0
    target = tmp_path / "out.arpa"
    if what == "fifo":
        os.mkfifo(target)
    elif what == "directory":
        target.mkdir()
    elif what == "symlink":
        (tmp_path / "real.arpa").write_text("mine")
        target.symlink_to(tmp_path / "real.arpa")
    else:
        target = Path("/dev/null")
    mode = target.lstat().st_mode
    code, err = cli(capsys, "export", model, "--format", "arpa", "--out", target)
    assert code == 2 and one_line(err).startswith(f"seqlm: error: {target}: is a")
    assert target.lstat().st_mode == mode  # still what it was
    if what == "symlink":
        assert (tmp_path / "real.arpa").read_text() == "mine"
        code, err = cli(
            capsys, "export", model, "--format", "arpa", "--out", tmp_path / "real.arpa"
        )
        assert code == 0 and (tmp_path / "real.arpa").read_text().startswith("\\data\\")


def test_every_atomic_write_refuses_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SeqlmError, match="is a FIFO"):
        atomic_write_text(tmp_path / "pipe", "x")
    assert check_output_file(tmp_path / "new.json") == tmp_path / "new.json"
    (tmp_path / "old.json").write_text("x")
    atomic_write_text(tmp_path / "old.json", "y")
    assert (tmp_path / "old.json").read_text() == "y"


# -- 3. disk full: one line naming the destination, nothing half-written -------------------
def test_disk_full_during_ngram_convert_names_the_destination(capsys, tmp_path, monkeypatch):
    def full(fd):  # where a full disk often shows first: flushing a written file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "m"
    code, err = cli(capsys, "ngram", "convert", arpa(tmp_path), out)
    assert code == 2 and one_line(err) == f"seqlm: error: {out}: no space left on device\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.arpa"]  # nothing left behind


def test_a_safetensors_write_error_is_the_oserror_it_is(tmp_path, monkeypatch):
    import torch
    from safetensors import SafetensorError

    import seqlm.nn.checkpoint as checkpoint

    def full(tensors, path, metadata=None):
        Path(path).write_bytes(b"half")
        raise SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(checkpoint, "save_file", full)
    target = tmp_path / "model.safetensors"
    with pytest.raises(OSError) as failure:
        checkpoint.save_tensors(target, {"w": torch.zeros(2)})
    assert failure.value.errno == errno.ENOSPC and failure.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 200 KB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_really_full_disk(capsys, tmp_path, full_disk):
    from seqlm.ngram import NgramLM

    ng = tmp_path / "ng"
    assert (
        cli(capsys, "ngram", "train", synthetic(20_000, 500, 500), "--order", "4", "--out", ng)[0]
        == 0
    )
    code, err = cli(capsys, "ngram", "convert", arpa(tmp_path), full_disk / "small")
    assert code == 0, err  # it fits
    (full_disk / "ballast").write_bytes(b"\0" * 150_000)
    out = full_disk / "m"
    with pytest.raises(OSError, match="No space left"):
        NgramLM.load(ng).save(out)
    code, err = cli(capsys, "export", ng, "--format", "arpa", "--out", full_disk / "x.arpa")
    assert (
        code == 2
        and one_line(err) == f"seqlm: error: {full_disk}/x.arpa: no space left on device\n"
    )
    assert sorted(p.name for p in full_disk.iterdir()) == ["ballast", "small"]


# -- 4. spill folders: removed on any exit, swept after a kill -----------------------------
def spill_folders(directory: Path) -> list[Path]:
    return sorted(directory.glob("seqlm-ngram-*"))


def ngram_train(spill: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "seqlm", "ngram", "train", SPILL, "--order", "3",
        "--memory", "1M", "--workers", "1", "--tmp", str(spill), "--out", str(out), "--json",
    ]  # fmt: skip


def killed_while_spilling(tmp_path, sig: int) -> subprocess.Popen:
    spill = tmp_path / "spill"
    spill.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        ngram_train(spill, tmp_path / "m"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while not any(spill.glob("seqlm-ngram-*/*")) and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.005)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return proc


def test_a_spill_folder_left_by_kill_9_is_swept_at_the_next_start(tmp_path):
    spill = tmp_path / "spill"
    proc = killed_while_spilling(tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    (left,) = spill_folders(spill)
    assert f"-{proc.pid}-" in left.name
    old = time.time() - 3600  # the sweep spares folders touched in the last minute
    os.utime(left, (old, old))
    done = subprocess.run(ngram_train(spill, tmp_path / "m2"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert spill_folders(spill) == []
    assert not (tmp_path / "m").exists()  # the killed run wrote no half model


def test_sigterm_removes_the_spill_folder(tmp_path):
    proc = killed_while_spilling(tmp_path, signal.SIGTERM)
    err = proc.stderr.read().decode()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert spill_folders(tmp_path / "spill") == []


def test_the_sweep_spares_live_and_recent_folders(tmp_path):
    from seqlm.ngram.external import sweep_spill_folders

    old = time.time() - 3600
    live = tmp_path / f"seqlm-ngram-{os.getpid()}-abc"
    recent = tmp_path / "seqlm-ngram-999999999-abc"
    stale = tmp_path / "seqlm-ngram-999999998-abc"
    for folder in (live, recent, stale):
        folder.mkdir()
    os.utime(live, (old, old))
    os.utime(stale, (old, old))
    assert sweep_spill_folders(tmp_path) == [stale]
    assert live.exists() and recent.exists()
