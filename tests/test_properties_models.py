"""Property-based tests for the files a stranger's model reaches us as: ARPA text (plain or
gzip), safetensors weights and config.json. Each mutation gives a model or a one-line
`SeqlmError` (line-numbered for ARPA text), never another exception. Bounded and
derandomized, like tests/test_properties.py."""

import gzip
import json
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import MINI, bounded
from hypothesis import given
from hypothesis import strategies as st

import seqlm
from seqlm.io import SeqlmError
from seqlm.ngram import NgramLM, read_arpa


@pytest.fixture(scope="module")
def arpa_text(tmp_path_factory) -> str:
    corpus = seqlm.load_corpus(MINI)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate discounts on a tiny corpus
        model = seqlm.ngram.build(corpus, order=3)
    path = tmp_path_factory.mktemp("arpa") / "m.arpa"
    model.write_arpa(path)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def lstm_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lstm") / "m"
    seqlm.train(
        MINI,
        out,
        cell="lstm",
        embed=8,
        hidden=8,
        layers=1,
        batch_size=4,
        bptt=10,
        max_steps=3,
        threads=1,
    )
    return out


def read_or_refuse(path: Path, line_numbered: bool = False) -> None:
    try:
        words, tables = read_arpa(path)
    except SeqlmError as e:
        assert "\n" not in str(e) and str(path.name) in str(e)
        if line_numbered:
            assert re.search(rf"{re.escape(path.name)}:\d+: ", str(e)), str(e)
        return
    assert len(words) == len(tables.keys[0])  # a model came back: it is a consistent one
    for probs in tables.log10_prob:
        assert np.all(np.asarray(probs)[np.isfinite(probs)] <= 0)


lines_edit = st.lists(
    st.tuples(
        st.sampled_from(["delete", "duplicate", "swap", "garble", "number"]),
        st.integers(0, 10**6),
        st.text(max_size=8),
    ),
    min_size=1,
    max_size=4,
)


@bounded(120)
@given(edits=lines_edit)
def test_mutated_arpa_loads_or_is_a_line_numbered_error(arpa_text, edits):
    lines = arpa_text.split("\n")
    for op, where, text in edits:
        i = where % len(lines)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = (i + 1) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "garble":
            lines[i] = lines[i][: len(lines[i]) // 2] + text
        else:  # a number replaced by another field's text
            fields = lines[i].split("\t")
            fields[0] = text or "1e400"
            lines[i] = "\t".join(fields)
        if not lines:
            lines = [""]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.arpa"
        path.write_text("\n".join(lines), encoding="utf-8")
        read_or_refuse(path, line_numbered=True)


@bounded(60)
@given(cut=st.floats(0.0, 0.999), flip=st.integers(0, 10**6))
def test_damaged_gzip_arpa_is_refused(arpa_text, cut, flip):
    data = bytearray(gzip.compress(arpa_text.encode()))
    with tempfile.TemporaryDirectory() as folder:
        truncated = Path(folder) / "t.arpa.gz"
        truncated.write_bytes(bytes(data[: int(len(data) * cut)]))
        with pytest.raises(SeqlmError):
            read_arpa(truncated)
        data[flip % len(data)] ^= 0x5A  # one flipped byte: header, deflate data or CRC
        flipped = Path(folder) / "f.arpa.gz"
        flipped.write_bytes(bytes(data))
        read_or_refuse(flipped)


@bounded(40)
@given(where=st.integers(0, 10**7), value=st.integers(0, 255), cut=st.integers(0, 10**7))
def test_mutated_weights_load_or_are_refused(lstm_dir, where, value, cut):
    data = bytearray((lstm_dir / "model.safetensors").read_bytes())
    data[where % len(data)] = value
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "m"
        shutil.copytree(lstm_dir, copy)
        (copy / "model.safetensors").write_bytes(bytes(data[: max(len(data) - cut % 64, 1)]))
        try:
            model = seqlm.load(copy)
        except SeqlmError as e:
            assert "\n" not in str(e)
            return
        assert model.num_parameters() > 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@bounded(120)
@given(
    section=st.sampled_from(["model", "train", "corpus", None]),
    key=st.text(max_size=12),
    value=json_values,
)
def test_mutated_config_json_loads_or_is_refused(lstm_dir, section, key, value):
    config = json.loads((lstm_dir / "config.json").read_text())
    target = config if section is None else config[section]
    names = sorted(target)
    target[names[sum(map(ord, key)) % len(names)] if key.isdigit() or not key else key] = value
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "m"
        shutil.copytree(lstm_dir, copy)
        (copy / "config.json").write_text(json.dumps(config))
        try:
            model = seqlm.load(copy)
            seqlm.loading.trained_on(copy)
        except SeqlmError as e:
            assert "\n" not in str(e)
            return
        assert isinstance(model, seqlm.LanguageModel)


def test_an_arpa_written_by_seqlm_reads_back(arpa_text, tmp_path):
    path = tmp_path / "m.arpa"
    path.write_text(arpa_text)
    model = NgramLM.from_arpa(path)
    assert model.order == 3
