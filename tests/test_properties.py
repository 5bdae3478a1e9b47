"""Property-based tests: arbitrary or mutated input gives the right answer or a one-line
`SeqlmError`, never another exception. Example counts are bounded (the file runs in
seconds) and derandomized, so every run checks the same cases."""

import json
import math
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import bounded, write
from hypothesis import example, given
from hypothesis import strategies as st

from seqlm.data import EOS, UNK, Vocab, detokenize, load_corpus, tokenize
from seqlm.data.cache import cache_root
from seqlm.data.synthetic import SyntheticConfig
from seqlm.data.text import read_chunks
from seqlm.io import SeqlmError
from seqlm.train.config import TrainConfig, make_config


# -- tokenizers ----------------------------------------------------------------------
def reference_words(text: str) -> list[str]:
    """PTB convention, written independently: each line's whitespace-split words + <eos>."""
    if not text:
        return []
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [token for line in lines for token in [*line.split(), EOS]]


@bounded(300)
@given(st.text())
def test_tokenizers_on_arbitrary_text(text):
    assert tokenize(text, "word") == reference_words(text)
    chars = tokenize(text, "char")  # characters, <eos> for each line end
    assert "".join("\n" if c == EOS else c for c in chars) == text + (
        "\n" if text and not text.endswith("\n") else ""
    )
    assert detokenize(chars, "char") == "".join("\n" if c == EOS else c for c in chars)


words = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1).filter(
    lambda w: not any(c.isspace() for c in w) and w != EOS
)


@bounded(200)
@given(st.lists(st.lists(words, max_size=6), max_size=8))
def test_word_tokens_round_trip_single_spaced_lines(lines):
    text = "".join(" ".join(line) + "\n" for line in lines)
    assert detokenize(tokenize(text, "word"), "word") == text


@bounded(200)
@given(st.binary(max_size=300), st.integers(1, 64))
def test_reading_arbitrary_bytes(data, chunk_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "t.txt", data)
        try:
            text = "".join(read_chunks(path, chunk_bytes=chunk_bytes))
        except SeqlmError as e:
            assert "\n" not in str(e)
            assert not data or b"\x00" in data or not _utf8(data)
            return
        assert _utf8(data) and b"\x00" not in data
        assert text == data.decode("utf-8").removeprefix("\ufeff")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@bounded(150)
@given(st.text(max_size=40))
@example("a\x00b")
@example("~nosuchuser/x")
@example("")
@example("x" * 5000)
def test_arbitrary_corpus_names(tmp_path, monkeypatch, spec):
    """Anything that is not a file, directory or dataset is a one-line error."""
    from seqlm.data.download import DATASETS

    if spec.strip() in DATASETS or spec.startswith("synthetic"):
        return
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SeqlmError) as info:
        load_corpus(spec, cache=False)
    assert "\n" not in str(info.value)


# -- vocabulary files ----------------------------------------------------------------
GOOD_VOCAB = json.dumps(Vocab(["the", "é", EOS, UNK], [5, 2, 2, 0]).to_json()).encode()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, position, chunk in edits:
        i = position % (len(out) + 1)
        if kind == "flip" and i < len(out):
            out[i] ^= chunk[0] if chunk else 0xFF
        elif kind == "insert":
            out[i:i] = chunk
        elif kind == "delete":
            del out[i : i + len(chunk) + 1]
        elif kind == "truncate":
            del out[i:]
    return bytes(out)


edits = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "truncate"]),
        st.integers(0, 10_000),
        st.binary(min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=3,
)


def _load_vocab(data: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "v.json", data)
        try:
            vocab = Vocab.load(path)
        except SeqlmError as e:
            assert "\n" not in str(e)
            return None
    assert UNK in vocab.tokens and len(vocab.counts) == len(vocab)
    assert all(isinstance(c, int) and c >= 0 for c in vocab.counts)
    return vocab


@bounded(300)
@given(edits)
def test_mutated_vocab_file_loads_or_is_refused(changes):
    _load_vocab(_mutate(GOOD_VOCAB, changes))


@bounded(200)
@given(
    st.dictionaries(st.sampled_from(["version", "level", "tokens", "counts", "unk"]), json_values)
)
def test_vocab_with_arbitrary_fields_loads_or_is_refused(fields):
    base = json.loads(GOOD_VOCAB)
    _load_vocab(json.dumps({**base, **fields}).encode())


@bounded(100)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_as_vocab(data):
    _load_vocab(data)


# -- synthetic corpus specs ------------------------------------------------------------
KEYS = list(SyntheticConfig().to_json())
spec_values = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "0x10", "", " 3 ", "1_0"]),
    st.text(max_size=6),
)
spec_items = st.one_of(
    st.tuples(st.sampled_from(KEYS + ["train-tokens", "bogus"]), spec_values).map("=".join),
    st.text(max_size=10),
)


@bounded(400)
@given(st.lists(spec_items, max_size=4).map(",".join))
@example("clause_weight=nan")
@example("aside_weight=-0.0,clause_weight=nan")
@example("max_modifiers=100000000")
@example("max_depth=5000")
def test_synthetic_spec_parses_or_is_refused(spec):
    try:
        config = SyntheticConfig.from_spec(spec)
    except SeqlmError as e:
        assert "\n" not in str(e)
        return
    values = config.to_json()
    assert all(math.isfinite(v) for v in values.values())
    assert config.clause_weight >= 0 and config.aside_weight >= 0
    assert config.clause_weight + config.aside_weight < 1
    assert min(config.train_tokens, config.valid_tokens, config.test_tokens) >= 1
    again = SyntheticConfig.from_spec(",".join(f"{k}={v!r}" for k, v in values.items()))
    assert again == config


# -- TOML training configs -------------------------------------------------------------
def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # inf, -inf: as in TOML
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return str(value)


scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=5)
)
FIELDS = TrainConfig().to_json()


@bounded(400)
@given(
    st.dictionaries(
        st.sampled_from(sorted(FIELDS)),
        scalars | st.lists(st.integers(-5, 50) | scalars, max_size=3),
        max_size=4,
    )
)
def test_toml_config_gives_a_valid_config_or_one_line_error(values):
    text = "[train]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "c.toml", text)
        try:
            config = make_config("my.txt", str(path), {})
        except SeqlmError as e:
            assert "\n" not in str(e)
            return
    for name, value in config.to_json().items():
        default = FIELDS[name]
        if isinstance(default, bool):
            assert isinstance(value, bool)
        elif isinstance(default, (int, float)):
            assert not isinstance(value, bool) and math.isfinite(value)
            assert isinstance(value, int) or isinstance(default, float)
        if name in values:
            assert value == values[name]
    assert config.clip > 0 and config.lr_decay >= 1 and 0 <= config.momentum < 1
    assert config.weight_decay >= 0 and config.max_steps >= 0 and config.patience >= 0


@bounded(100)
@given(st.text(max_size=60))
def test_arbitrary_toml_text(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "c.toml", text)
        try:
            make_config("my.txt", str(path), {})
        except SeqlmError as e:
            assert "\n" not in str(e)


# -- the corpus cache ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A small corpus, its fresh (uncached) encoding and a pristine cache entry."""
    import os

    base = tmp_path_factory.mktemp("cacheprop")
    rng = np.random.default_rng(0)
    for split, n in (("train", 300), ("valid", 40), ("test", 40)):
        lines = [" ".join(f"w{w}" for w in rng.integers(0, 30, 6)) for _ in range(n)]
        write(base / "c" / f"{split}.txt", "\n".join(lines) + "\n")
    old = os.environ["SEQLM_CACHE"]
    os.environ["SEQLM_CACHE"] = str(base / "pristine")
    try:
        load_corpus(str(base / "c"))
    finally:
        os.environ["SEQLM_CACHE"] = old
    fresh = load_corpus(str(base / "c"), cache=False)
    return base, fresh


CACHE_FILES = ["train.npy", "valid.npy", "test.npy", "vocab.json", "meta.json"]


@bounded(80)
@given(st.sampled_from(CACHE_FILES), edits)
def test_mutated_cache_gives_the_right_corpus(pristine, monkeypatch, file, changes):
    base, fresh = pristine
    work = base / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base / "pristine", work)
    monkeypatch.setenv("SEQLM_CACHE", str(work))
    (entry,) = [p for p in cache_root().iterdir() if not p.name.startswith(".")]
    path = entry / file
    path.write_bytes(_mutate(path.read_bytes(), changes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = load_corpus(str(base / "c"))
    assert corpus.vocab == fresh.vocab and corpus.oov == fresh.oov
    assert corpus.stats() == fresh.stats()
    for split in ("train", "valid", "test"):
        assert np.array_equal(corpus[split], fresh[split])
