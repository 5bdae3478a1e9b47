import os

import numpy as np
import pytest
from conftest import write

from seqlm.data import EOS, UNK, load_corpus
from seqlm.data import corpus as corpus_module
from seqlm.data.corpus import cache_root
from seqlm.io import SeqlmError


def test_ptb_matches_its_published_size(data_dir):
    corpus = load_corpus("ptb")
    # README of the data: 887,521 words + one <eos> per line for 42,068 lines.
    assert len(corpus["train"]) == 887_521 + 42_068
    assert len(corpus["valid"]) == 70_390 + 3_370
    assert len(corpus["test"]) == 78_669 + 3_761
    assert len(corpus.vocab) == 10_000
    assert corpus.vocab.tokens[:3] == ["the", UNK, EOS]  # the three most frequent PTB tokens
    assert corpus.oov == {"train": 0, "valid": 0, "test": 0}
    first = (data_dir / "ptb" / "train.txt").read_text().split("\n")[1].split()
    assert corpus.vocab.decode(corpus["train"][25 : 25 + len(first)]) == first


def test_directory_corpus_and_missing_split(tmp_path):
    write(tmp_path / "c" / "train.txt", "a b a\nb c\n")
    write(tmp_path / "c" / "valid.txt", "a z\n")
    write(tmp_path / "c" / "test.txt", "c\n")
    corpus = load_corpus(str(tmp_path / "c"))
    assert corpus.vocab.tokens == ["a", "b", EOS, "c", UNK]
    assert corpus.vocab.decode(corpus["valid"]) == ["a", UNK, EOS]
    assert corpus.oov["valid"] == 1
    (tmp_path / "c" / "test.txt").unlink()
    with pytest.raises(SeqlmError, match="missing test.txt"):
        load_corpus(str(tmp_path / "c"))


def test_single_file_split_is_contiguous_and_deterministic(tmp_path):
    lines = [" ".join(f"w{(i * 7 + j) % 50}" for j in range(i % 9 + 1)) for i in range(2000)]
    path = write(tmp_path / "all.txt", "\n".join(lines) + "\n")
    corpus = load_corpus(str(path), fractions=(0.8, 0.1, 0.1))
    streams = [corpus.vocab.decode(corpus[s]) for s in ("train", "valid", "test")]
    assert sum(streams, []) == (path.read_text().replace("\n", f" {EOS} ")).split()
    assert all(s[-1] == EOS for s in streams)  # cut at line ends
    assert 0.75 < len(streams[0]) / sum(map(len, streams)) < 0.85
    again = load_corpus(str(path), fractions=(0.8, 0.1, 0.1), cache=False)
    assert np.array_equal(again["valid"], corpus["valid"])


def test_char_level_corpus(tmp_path):
    path = write(tmp_path / "s.txt", "abca\n" * 100 + "xyz\n" * 10)
    corpus = load_corpus(str(path), level="char", fractions=(0.9, 0.05, 0.05))
    assert corpus.level == "char"
    assert corpus.vocab.tokens[:4] == ["a", "b", "c", EOS]  # ties: first occurrence
    assert corpus.vocab.tokenizer.decode(corpus.vocab.decode(corpus["train"][:5])) == "abca\n"


def test_cache_reloads_memory_mapped_and_tracks_content(tmp_path):
    for split in ("train", "valid", "test"):
        write(tmp_path / "c" / f"{split}.txt", "a b c\n")
    first = load_corpus(str(tmp_path / "c"))
    second = load_corpus(str(tmp_path / "c"))
    assert isinstance(second["train"], np.memmap)
    assert np.array_equal(first["train"], second["train"])
    write(tmp_path / "c" / "train.txt", "a b c d d\n")  # new content -> new entry
    assert "d" in load_corpus(str(tmp_path / "c")).vocab.stoi
    assert not [p for p in cache_root().iterdir() if p.name.endswith(".tmp")]


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    for split in ("train", "valid", "test"):
        write(tmp_path / "c" / f"{split}.txt", "a b\n")
    load_corpus(str(tmp_path / "c"))
    for vocab in cache_root().glob("*/vocab.json"):
        vocab.write_text("{")
    with pytest.warns(UserWarning, match="modified vocabulary; rebuilding it"):
        assert load_corpus(str(tmp_path / "c")).vocab.tokens[0] == "a"


@pytest.mark.parametrize("scan_bytes", [4, 12, 1 << 25])
def test_cache_verifies_block_by_block(tmp_path, monkeypatch, scan_bytes):
    """The entry is checked a block at a time (pages handed back as it goes): blocks of
    one id, of a few ids not a page, or the whole array give the same verdicts."""
    from seqlm.data import cache

    monkeypatch.setattr(cache, "SCAN_BYTES", scan_bytes)
    monkeypatch.setenv("SEQLM_CACHE", str(tmp_path / "cache"))
    for split in ("train", "valid", "test"):
        write(tmp_path / "c" / f"{split}.txt", "a b c a b d\n" * 50)
    expected = np.array(load_corpus(str(tmp_path / "c"))["train"])
    again = load_corpus(str(tmp_path / "c"))  # verified, not rebuilt
    assert isinstance(again["train"], np.memmap)
    assert np.array_equal(again["train"], expected)
    (train,) = cache_root().glob("*/train.npy")
    ids = np.load(train)
    ids[-1] = ids[0] if ids[-1] != ids[0] else ids[1]  # still in range: only the hash sees it
    np.save(train, ids)
    with pytest.warns(UserWarning, match="modified train array"):
        assert np.array_equal(load_corpus(str(tmp_path / "c"))["train"], expected)
    (train,) = cache_root().glob("*/train.npy")
    ids = np.load(train)
    ids[len(ids) // 2] = 10_000  # out of range in a middle block
    np.save(train, ids)
    with pytest.warns(UserWarning, match="ids out of their range"):
        load_corpus(str(tmp_path / "c"))


def test_unknown_things_are_named(tmp_path):
    with pytest.raises(SeqlmError, match="no such file, directory or dataset"):
        load_corpus("ptbb")
    with pytest.raises(SeqlmError, match="fractions"):
        load_corpus(str(write(tmp_path / "x.txt", "a\n")), fractions=(0.5, 0.6, 0.1))
    with pytest.raises(SeqlmError, match="fractions"):
        load_corpus(str(tmp_path / "x.txt"), fractions=(float("nan"), 0.5, 0.5))


@pytest.mark.parametrize("level", ["word", "char"])
def test_parallel_tokenizing_equals_one_pass(level, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)] + ["é", "<unk>"]
    lines = [" ".join(rng.choice(words, rng.integers(1, 30))) for _ in range(4000)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("SEQLM_WORKERS", "1")
    one = load_corpus(str(path), level=level, cache=False)
    monkeypatch.setenv("SEQLM_WORKERS", "2")
    monkeypatch.setenv("SEQLM_PARALLEL_MIN_BYTES", "1")
    many = load_corpus(str(path), level=level, cache=False)
    assert one.vocab.tokens == many.vocab.tokens and one.vocab.counts == many.vocab.counts
    for split in ("train", "valid", "test"):
        assert np.array_equal(one[split], many[split])


def test_parallel_tokenizing_with_new_words_in_every_piece(tmp_path, monkeypatch):
    """Each piece meets known words before new ones: new ids must follow on without gaps
    (they had gaps, and training files >= 32 MiB crashed with an IndexError)."""
    rng = np.random.default_rng(1)
    lines = [f"common w{rng.integers(50)} u{i} common" for i in range(12_000)]
    path = write(tmp_path / "new_words.txt", "\n".join(lines) + "\n")
    assert path.stat().st_size > 200_000
    monkeypatch.setenv("SEQLM_WORKERS", "1")
    one = load_corpus(str(path), cache=False)
    monkeypatch.setenv("SEQLM_WORKERS", "2")
    monkeypatch.setenv("SEQLM_PARALLEL_MIN_BYTES", "1000")
    many = load_corpus(str(path), cache=False)
    assert many.vocab.tokens == one.vocab.tokens and many.vocab.counts == one.vocab.counts
    for split in ("train", "valid", "test"):
        assert np.array_equal(one[split], many[split])
    # independent reference: the training ids decode to the text's own tokens
    n_train = len(many["train"])
    expected = path.read_text().replace("\n", f" {EOS} ").split()[:n_train]
    assert many.vocab.decode(many["train"]) == expected


def test_parallel_tokenizing_reports_bad_bytes(tmp_path, monkeypatch):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line\n" * 5000 + b"bad \xff byte\n" + b"more\n" * 100)
    monkeypatch.setenv("SEQLM_WORKERS", "2")
    monkeypatch.setenv("SEQLM_PARALLEL_MIN_BYTES", "1")
    with pytest.raises(SeqlmError, match="not UTF-8 text"):
        load_corpus(str(path), cache=False)


@pytest.mark.parametrize("level", ["word", "char"])
def test_whitespace_only_corpus_is_refused(tmp_path, level):
    path = write(tmp_path / "blank.txt", " \n\n\t \n" * 200)
    with pytest.raises(SeqlmError, match="blank.txt: the training split has only whitespace"):
        load_corpus(str(path), level=level, cache=False)


def test_whitespace_only_split_is_named(tmp_path):
    write(tmp_path / "c" / "train.txt", "a b\n")
    write(tmp_path / "c" / "valid.txt", "\n  \n")
    write(tmp_path / "c" / "test.txt", "a\n")
    with pytest.raises(SeqlmError, match="valid.txt: the valid split has only whitespace"):
        load_corpus(str(tmp_path / "c"), cache=False)


@pytest.mark.parametrize("level", ["word", "char"])
def test_byte_order_mark_is_not_a_token(tmp_path, level, monkeypatch):
    text = "".join(f"w{i % 7} w{i % 3}\n" for i in range(300))
    plain = load_corpus(str(write(tmp_path / "plain.txt", text)), level=level, cache=False)
    path = write(tmp_path / "bom.txt", "\ufeff".encode() + text.encode())
    with_bom = load_corpus(str(path), level=level, cache=False)
    assert not any("\ufeff" in t for t in with_bom.vocab.tokens)
    assert with_bom.vocab == plain.vocab
    joined = [np.concatenate([c[s] for s in ("train", "valid", "test")]) for c in (with_bom, plain)]
    assert np.array_equal(*joined)  # (the split points may move by the mark's 3 bytes)
    monkeypatch.setenv("SEQLM_WORKERS", "2")  # the first parallel piece strips it too
    monkeypatch.setenv("SEQLM_PARALLEL_MIN_BYTES", "1")
    assert load_corpus(str(path), level=level, cache=False).vocab == plain.vocab


def _deny(monkeypatch, victim):
    """Make opening `victim` fail as it does for a user without read permission."""
    import builtins

    from seqlm.data import download, text

    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if str(file) == str(victim):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    for module in (text, download):
        monkeypatch.setattr(module, "open", fake_open, raising=False)


def test_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch):
    path = write(tmp_path / "secret.txt", "a b\n" * 50)
    _deny(monkeypatch, path)
    with pytest.raises(SeqlmError, match=r"secret.txt: permission denied$"):
        load_corpus(str(path), cache=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_directory_and_file_with_real_permissions(tmp_path):
    for split in ("train", "valid", "test"):
        write(tmp_path / "c" / f"{split}.txt", "a b\n")
    (tmp_path / "c" / "valid.txt").chmod(0)
    with pytest.raises(SeqlmError, match="valid.txt: permission denied"):
        load_corpus(str(tmp_path / "c"), cache=False)
    (tmp_path / "c").chmod(0)
    try:
        with pytest.raises(SeqlmError, match="permission denied"):
            load_corpus(str(tmp_path / "c"), cache=False)
    finally:
        (tmp_path / "c").chmod(0o755)


def test_directory_where_a_file_is_expected(tmp_path):
    for split in ("train", "test"):
        write(tmp_path / "c" / f"{split}.txt", "a b\n")
    (tmp_path / "c" / "valid.txt").mkdir()
    with pytest.raises(SeqlmError, match="valid.txt: is a directory"):
        load_corpus(str(tmp_path / "c"), cache=False)


def _killed(*args):
    """A tokenizing worker killed mid-way (e.g. by the out-of-memory killer)."""
    os._exit(9)


def test_bad_worker_settings_and_a_dying_worker(tmp_path, monkeypatch):
    path = write(tmp_path / "t.txt", "a b c\n" * 2000)
    monkeypatch.setenv("SEQLM_WORKERS", "two")
    with pytest.raises(SeqlmError, match="SEQLM_WORKERS must be an integer, got 'two'"):
        load_corpus(str(path), cache=False)
    monkeypatch.setenv("SEQLM_WORKERS", "2")
    monkeypatch.setenv("SEQLM_PARALLEL_MIN_BYTES", "1")
    monkeypatch.setattr(corpus_module, "_tokenize_piece", _killed)
    with pytest.raises(SeqlmError, match="a tokenizing process died"):
        load_corpus(str(path), cache=False)
