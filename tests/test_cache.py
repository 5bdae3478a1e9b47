"""The corpus cache verifies every entry on load and rebuilds what does not match."""

import json
import os
import pickle
import time
import warnings

import numpy as np
import pytest
from conftest import write

from seqlm.data import cache, load_corpus
from seqlm.data.cache import cache_root

SPLITS = ("train", "valid", "test")


@pytest.fixture
def corpus_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLM_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for split, n in zip(SPLITS, (400, 60, 60), strict=True):
        lines = [" ".join(f"w{w}" for w in rng.integers(0, 40, 8)) for _ in range(n)]
        write(tmp_path / "c" / f"{split}.txt", "\n".join(lines) + "\n")
    return tmp_path / "c"


def _entry():
    (entry,) = [p for p in cache_root().iterdir() if not p.name.startswith(".")]
    return entry


def _same(a, b):
    assert a.vocab.tokens == b.vocab.tokens and a.oov == b.oov
    assert a.stats() == b.stats()
    for s in SPLITS:
        assert np.array_equal(a[s], b[s])


def _edit_json(text, change):
    data = json.loads(text)
    change(data)
    return json.dumps(data)


def _mutations(vocab_size):
    def rewrite(path):  # valid, in-range ids, but not the corpus's
        ids = np.load(path)
        np.save(path, np.roll(ids, 1))

    def zero(path):
        ids = np.load(path)
        np.save(path, np.zeros_like(ids))

    def shorten(path):
        np.save(path, np.load(path)[:10])

    def out_of_range(path):
        ids = np.load(path)
        ids[3] = vocab_size + 5
        np.save(path, ids)

    def negative(path):
        ids = np.load(path)
        ids[0] = -1
        np.save(path, ids)

    def widen(path):
        np.save(path, np.load(path).astype(np.int64))

    def truncate(path):
        path.write_bytes(path.read_bytes()[:100])

    def garbage(path):
        path.write_bytes(b"\x93NUMPY garbage" * 10)

    def pickled(path):
        path.write_bytes(pickle.dumps(np.load(path).tolist()))

    def object_array(path):
        np.save(path, np.array([1, "x"], dtype=object), allow_pickle=True)

    return [
        rewrite,
        zero,
        shorten,
        out_of_range,
        negative,
        widen,
        truncate,
        garbage,
        pickled,
        object_array,
    ]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("mutation", range(10))
def test_mutated_ids_are_detected_and_rebuilt(corpus_dir, split, mutation):
    fresh = load_corpus(str(corpus_dir), cache=False)
    load_corpus(str(corpus_dir))
    _mutations(len(fresh.vocab))[mutation](_entry() / f"{split}.npy")
    with pytest.warns(UserWarning, match="corpus cache entry .* rebuilding it"):
        again = load_corpus(str(corpus_dir))
    _same(again, fresh)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt entry is good
        third = load_corpus(str(corpus_dir))
    assert isinstance(third["train"], np.memmap)
    _same(third, fresh)


@pytest.mark.parametrize(
    "file, change",
    [
        ("vocab.json", lambda t: t.replace('"w1"', '"wX"')),
        ("meta.json", lambda t: t.replace('"oov": {"train": 0', '"oov": {"train": 99999')),
        ("meta.json", lambda t: _edit_json(t, lambda m: m["oov"].update(valid=1))),
        ("meta.json", lambda t: t[: len(t) // 2]),
        ("meta.json", lambda t: "[]"),
    ],
)
def test_mutated_metadata_is_detected_and_rebuilt(corpus_dir, file, change):
    fresh = load_corpus(str(corpus_dir), cache=False)
    load_corpus(str(corpus_dir))
    path = _entry() / file
    text = path.read_text()
    assert change(text) != text
    path.write_text(change(text))
    with pytest.warns(UserWarning, match="rebuilding it"):
        _same(load_corpus(str(corpus_dir)), fresh)


def test_missing_file_in_entry_is_rebuilt(corpus_dir):
    fresh = load_corpus(str(corpus_dir), cache=False)
    load_corpus(str(corpus_dir))
    (_entry() / "valid.npy").unlink()
    with pytest.warns(UserWarning, match="rebuilding it"):
        _same(load_corpus(str(corpus_dir)), fresh)


def test_synthetic_marks_are_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLM_CACHE", str(tmp_path / "cache"))
    spec = "synthetic:train_tokens=2000,valid_tokens=300,test_tokens=300"
    fresh = load_corpus(spec, cache=False)
    load_corpus(spec)
    path = _entry() / "valid.logprob.npy"
    np.save(path, np.zeros_like(np.load(path)))
    with pytest.warns(UserWarning, match="valid.logprob"):
        again = load_corpus(spec)
    assert again.stats() == fresh.stats()


def test_readers_never_see_a_half_written_entry(corpus_dir, monkeypatch):
    """While an entry is being written, a lookup of its key finds nothing (no partial
    entry, no warning), and the finished entry is complete."""
    key = {}
    real_store, real_save = cache.store, np.save
    seen = []

    def spy_store(k, *args):
        key.update(k)
        real_store(k, *args)

    def spy_save(path, array, **kw):
        real_save(path, array, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            seen.append(cache.load(key))

    monkeypatch.setattr(cache, "store", spy_store)
    monkeypatch.setattr(cache.np, "save", spy_save)
    first = load_corpus(str(corpus_dir))
    monkeypatch.setattr(cache.np, "save", real_save)
    assert len(seen) == 3 and seen == [None] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _same(load_corpus(str(corpus_dir)), first)


def test_stale_temporaries_are_swept_and_unwritable_cache_warns(corpus_dir, tmp_path, monkeypatch):
    root = cache_root()
    root.mkdir(parents=True)
    stale = root / ".0123456789abcdef01234567.999999999.abc_1234.tmp"  # no such pid
    stale.mkdir()
    (stale / "train.npy").write_bytes(b"half")
    os.utime(stale, (time.time() - 3600,) * 2)
    load_corpus(str(corpus_dir))
    assert not stale.exists()
    blocker = write(tmp_path / "not_a_dir", "x")
    monkeypatch.setenv("SEQLM_CACHE", str(blocker))
    with pytest.warns(UserWarning, match="cannot write the corpus cache"):
        corpus = load_corpus(str(corpus_dir))
    assert len(corpus["train"]) == 400 * 9
    assert os.path.isfile(blocker)


def test_concurrent_processes_share_one_entry(corpus_dir):
    """Processes that build and store the same entry at once all get the right corpus, and
    what is left is one complete entry, no temporaries."""
    import subprocess
    import sys

    fresh = load_corpus(str(corpus_dir), cache=False)
    code = (
        "import json, sys\n"
        "from seqlm.data import load_corpus\n"
        "c = load_corpus(sys.argv[1])\n"
        "print(json.dumps({'stats': c.stats(), 'sums': [int(c[s].sum()) for s in "
        "('train', 'valid', 'test')]}))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(corpus_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    want = {"stats": fresh.stats(), "sums": [int(fresh[s].sum()) for s in SPLITS]}
    for out, err in results:
        assert json.loads(out) == json.loads(json.dumps(want)), err
        assert "warning" not in err.lower(), err
    assert [p.name for p in cache_root().iterdir() if p.name.startswith(".")] == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _same(load_corpus(str(corpus_dir)), fresh)


def test_cache_that_cannot_be_searched_is_no_cache(corpus_dir, monkeypatch):
    from pathlib import Path

    fresh = load_corpus(str(corpus_dir), cache=False)
    real_exists = Path.exists

    def exists(self):
        if str(self).startswith(str(cache_root())):
            raise PermissionError(13, "Permission denied", str(self))
        return real_exists(self)

    monkeypatch.setattr(Path, "exists", exists)
    _same(load_corpus(str(corpus_dir)), fresh)
