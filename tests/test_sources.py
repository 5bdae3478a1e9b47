"""Corpora from JSONL, Parquet, a saved Hugging Face dataset and compressed text: each gives
the corpus of the equivalent plain text file (same vocabulary, same tokens, same splits)."""

import gzip
import json
import lzma
import random

import numpy as np
import pytest

from seqlm.cli import main
from seqlm.data import load_corpus
from seqlm.data.spec import CorpusSpec
from seqlm.io import SeqlmError

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


@pytest.fixture(scope="module")
def lines():
    rng = random.Random(4)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))) for _ in range(400)]


def write_arrow_dataset(folder, column, texts, files=2):
    """The layout `datasets.Dataset.save_to_disk` writes: Arrow stream files, state.json."""
    import pyarrow as pa

    folder.mkdir(parents=True)
    names, step = [], -(-len(texts) // files)
    for i in range(files):
        name = f"data-{i:05d}-of-{files:05d}.arrow"
        table = pa.table(
            {
                column: texts[i * step : (i + 1) * step],
                "n": range(len(texts[i * step : (i + 1) * step])),
            }
        )
        with (
            pa.OSFile(str(folder / name), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as w,
        ):
            for batch in table.to_batches(max_chunksize=50):
                w.write_batch(batch)
        names.append({"filename": name})
    (folder / "state.json").write_text(json.dumps({"_data_files": names, "_split": None}))
    (folder / "dataset_info.json").write_text("{}")


@pytest.fixture(scope="module")
def sources(lines, tmp_path_factory):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    root = tmp_path_factory.mktemp("sources")
    text = "\n".join(lines) + "\n"
    (root / "plain.txt").write_text(text)
    (root / "c.txt.gz").write_bytes(gzip.compress(text.encode()))
    (root / "c.txt.xz").write_bytes(lzma.compress(text.encode()))
    (root / "c.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    jsonl = "".join(
        json.dumps({"text": t, "content": t, "n": i}) + "\n" for i, t in enumerate(lines)
    )
    (root / "d.jsonl").write_text(jsonl)
    (root / "d.jsonl.gz").write_bytes(gzip.compress(jsonl.encode()))
    pq.write_table(pa.table({"body": lines}), root / "d.parquet", row_group_size=100)
    write_arrow_dataset(root / "hf", "text", lines)
    return root


@pytest.mark.parametrize(
    "source",
    [
        "c.txt.gz",
        "c.txt.xz",
        "c.txt.zst",
        "d.jsonl",
        "d.jsonl:content",
        "d.jsonl.gz",
        "d.parquet:body",
        "hf",
    ],
)
def test_each_source_gives_the_corpus_of_its_plain_text(sources, source):
    reference = load_corpus(str(sources / "plain.txt"), cache=False)
    corpus = load_corpus(str(sources / source), cache=False)
    assert corpus.vocab.tokens == reference.vocab.tokens
    for split in ("train", "valid", "test"):
        assert np.array_equal(corpus[split], reference[split]), split
    assert corpus.text_bytes == reference.text_bytes and corpus.words == reference.words
    # the same fractions give the same cut, as for the plain file
    fractions = (0.8, 0.1, 0.1)
    a = load_corpus(str(sources / source), fractions=fractions)
    b = load_corpus(str(sources / "plain.txt"), fractions=fractions)
    assert np.array_equal(a["valid"], b["valid"])


def test_a_dataset_dict_gives_its_own_splits(lines, tmp_path):
    root = tmp_path / "dd"
    parts = {"train": lines[:300], "validation": lines[300:350], "test": lines[350:]}
    for name, texts in parts.items():
        write_arrow_dataset(root / name, "text", texts, files=1)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": list(parts)}))
    plain = tmp_path / "plain"
    plain.mkdir()
    for split, name in (("train", "train"), ("valid", "validation"), ("test", "test")):
        (plain / f"{split}.txt").write_text("\n".join(parts[name]) + "\n")
    corpus, reference = load_corpus(str(root), cache=False), load_corpus(str(plain), cache=False)
    assert corpus.vocab.tokens == reference.vocab.tokens
    for split in ("train", "valid", "test"):
        assert np.array_equal(corpus[split], reference[split])


def test_the_recorded_source_keeps_its_field(sources, monkeypatch):
    monkeypatch.chdir(sources)
    assert CorpusSpec("d.jsonl:content").to_json()["source"] == f"{sources / 'd.jsonl'}:content"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.jsonl", '{"text": "a b"}\n{oops\n', "bad.jsonl:2: bad JSON"),
        ("miss.jsonl", '{"text": "a b"}\n{"body": "c"}\n', "miss.jsonl:2: no field 'text'"),
        ("empty.jsonl", "\n\n", "empty.jsonl: no text"),
        ("bad.txt.gz", "not gzip", "bad.txt.gz: cannot decompress"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(SeqlmError, match=message.replace("{", r"\{")):
        load_corpus(str(tmp_path / name))


def test_the_cli_trains_on_a_jsonl_field(sources, tmp_path, capsys):
    out = tmp_path / "m"
    args = ["ngram", "train", str(sources / "d.jsonl:content"), "--order", "2", "--out", str(out)]
    assert main(args) == 0
    assert main(["eval", str(out), "--data", str(sources / "plain.txt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["tokens"] == len(load_corpus(str(sources / "plain.txt"))["test"])
