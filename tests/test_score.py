"""`seqlm score`: per-document figures equal to `model.score(text)`, in every input format,
in one process or several, on a Dask cluster, and one-line errors for bad input."""

import gzip
import json
import lzma
import math
import random

import numpy as np
import pytest

from seqlm.cli import main
from seqlm.data import load_corpus
from seqlm.evaluate import evaluate
from seqlm.evaluate.bulk import score_texts, text_bytes
from seqlm.loading import load
from seqlm.ngram import build

WORDS = "the cat dog sat on mat a ran far away big small red".split()


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) for _ in range(n)]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    (root / "corpus.txt").write_text("\n".join(sentences(1500, 0)) + "\n")
    build(str(root / "corpus.txt"), 3).save(root / "m3")
    return root / "m3"


@pytest.fixture(scope="module")
def docs():
    texts = sentences(200, 1)
    texts[5] = "zebra unknown words here"  # out of vocabulary
    texts[9] = ""  # an empty document: no figures but its line end
    return texts


def run_score(*args) -> int:
    return main(["score", *map(str, args)])


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_document_scores_as_model_score_does(lm_dir, docs, tmp_path):
    (tmp_path / "docs.txt").write_text("\n".join(docs) + "\n")
    assert run_score(lm_dir, tmp_path / "docs.txt", "--out", tmp_path / "out.jsonl") == 0
    out = records(tmp_path / "out.jsonl")
    model = load(lm_dir)
    assert [r["line"] for r in out] == list(range(1, len(docs) + 1))
    for text, r in zip(docs, out, strict=True):
        expected = model.score(text)
        assert r["tokens"] == len(expected.tokens)
        assert r["logprob"] == float(np.sum(expected.log_probs))
        assert r["bits"] == pytest.approx(-r["logprob"] / math.log(2))
        assert r["bytes"] == len(text.encode()) + 1
        if text:
            assert r["perplexity"] == pytest.approx(expected.perplexity)
            assert r["bits_per_byte"] == pytest.approx(r["bits"] / r["bytes"])
    assert out[5]["oov"] == 4
    assert out[9]["tokens"] == 0 and out[9]["perplexity"] is None  # as model.score("")
    # summed over the lines, the file's bits per byte as `seqlm eval` reports it
    lines = [text for text in docs if text]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "train.txt").write_text((lm_dir.parent / "corpus.txt").read_text())
    for split in ("valid", "test"):
        (tmp_path / "c" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    corpus = load_corpus(str(tmp_path / "c"), tokenizer="whitespace")
    reference = evaluate(model, corpus, "test")
    kept = [r for r, text in zip(out, docs, strict=True) if text]
    bits = sum(r["bits"] for r in kept)
    assert bits / sum(r["bytes"] for r in kept) == pytest.approx(reference.bits_per_byte, abs=1e-6)


def write_inputs(docs, folder):
    """The same documents as text, JSONL (plain and compressed) and Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    text = "\n".join(docs) + "\n"
    jsonl = "".join(json.dumps({"body": d, "key": f"k{i}"}) + "\n" for i, d in enumerate(docs))
    (folder / "d.txt").write_text(text)
    (folder / "d.txt.gz").write_bytes(gzip.compress(text.encode()))
    (folder / "d.jsonl").write_text(jsonl)
    (folder / "d.jsonl.xz").write_bytes(lzma.compress(jsonl.encode()))
    (folder / "d.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(jsonl.encode()))
    table = pa.table({"body": docs, "key": [f"k{i}" for i in range(len(docs))]})
    pq.write_table(table, folder / "d.parquet", row_group_size=64)
    return ["d.txt", "d.txt.gz", "d.jsonl", "d.jsonl.xz", "d.jsonl.zst", "d.parquet"]


def test_every_input_format_gives_the_same_records(lm_dir, docs, tmp_path):
    import pyarrow.parquet as pq

    names = write_inputs(docs, tmp_path)
    results = {}
    for name in names:
        out = tmp_path / f"{name}.out.jsonl"
        field = [] if name.startswith("d.txt") else ["--field", "body"]
        assert run_score(lm_dir, tmp_path / name, "--out", out, *field) == 0
        results[name] = [{k: v for k, v in r.items() if k != "line"} for r in records(out)]
    first = results["d.txt"]
    assert len(first) == len(docs)
    for name in names:
        assert results[name] == first, name
    # Parquet out, ids carried over
    out = tmp_path / "out.parquet"
    assert (
        run_score(
            lm_dir, tmp_path / "d.jsonl", "--out", out, "--field", "body", "--id-field", "key"
        )
        == 0
    )
    table = pq.read_table(out).to_pylist()
    assert [r["id"] for r in table] == [f"k{i}" for i in range(len(docs))]
    assert [r["logprob"] for r in table] == [r["logprob"] for r in first]


def test_workers_and_batches_keep_order_and_figures(lm_dir, docs, tmp_path):
    (tmp_path / "d.txt").write_text("\n".join(docs) + "\n")
    assert run_score(lm_dir, tmp_path / "d.txt", "--out", tmp_path / "one.jsonl") == 0
    args = ["--workers", "2", "--batch", "7"]
    assert run_score(lm_dir, tmp_path / "d.txt", "--out", tmp_path / "two.jsonl", *args) == 0
    assert records(tmp_path / "two.jsonl") == records(tmp_path / "one.jsonl")


def test_keep_between_writes_only_the_band(lm_dir, docs, tmp_path, capsys):
    (tmp_path / "d.txt").write_text("\n".join(docs) + "\n")
    assert run_score(lm_dir, tmp_path / "d.txt", "--out", tmp_path / "all.jsonl") == 0
    every = records(tmp_path / "all.jsonl")
    band = sorted(r["perplexity"] for r in every if r["perplexity"] is not None)
    low, high = band[len(band) // 4], band[3 * len(band) // 4]
    out = tmp_path / "kept.jsonl"
    assert run_score(lm_dir, tmp_path / "d.txt", "--out", out, "--keep-between", low, high) == 0
    expected = [r for r in every if r["perplexity"] is not None and low <= r["perplexity"] <= high]
    assert records(out) == expected
    assert f"kept {len(expected):,} of {len(docs):,} documents" in capsys.readouterr().out


def test_neural_batches_equal_one_document_at_a_time(lm_dir, docs):
    import torch

    from seqlm.nn import ModelConfig, RecurrentLM

    vocab = load(lm_dir).vocab
    torch.manual_seed(0)
    model = RecurrentLM(
        ModelConfig(vocab_size=len(vocab), embed=8, hidden=12, layers=2, cell="lstm"), vocab
    )
    model.reset_parameters(3)
    model = model.double()
    batched = score_texts(model, docs)
    for text, (tokens, logprob, _) in zip(docs, batched, strict=True):
        expected = model.score(text)
        assert tokens == len(expected.tokens)
        assert logprob == pytest.approx(float(np.sum(expected.log_probs)), abs=1e-9)


@pytest.mark.parametrize(
    "content, flags, message",
    [
        ('{"text": "a"}\n{"text": \n', [], "d.jsonl:2: bad JSON"),
        ('{"text": "a"}\n{"body": "b"}\n', [], "d.jsonl:2: no field 'text'"),
        ('{"text": "a"}\n{"text": 3}\n', [], "d.jsonl:2: field 'text' is int, not a string"),
        ('{"text": "a"}\n[1]\n', [], "d.jsonl:2: expected a JSON object"),
        ('{"text": "a"}\n', ["--keep-between", "5", "1"], "needs LO <= HI"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_line(
    lm_dir, tmp_path, capsys, content, flags, message
):
    (tmp_path / "d.jsonl").write_text(content)
    out = tmp_path / "out.jsonl"
    assert run_score(lm_dir, tmp_path / "d.jsonl", "--out", out, *flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()  # nothing half-written


def test_missing_input_and_existing_output(lm_dir, tmp_path, capsys):
    assert run_score(lm_dir, tmp_path / "none.jsonl", "--out", tmp_path / "o.jsonl") == 2
    assert "none.jsonl: no such file" in capsys.readouterr().err
    (tmp_path / "d.txt").write_text("the cat\n")
    (tmp_path / "o.jsonl").write_text("old\n")
    assert run_score(lm_dir, tmp_path / "d.txt", "--out", tmp_path / "o.jsonl") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert run_score(lm_dir, tmp_path / "d.txt", "--out", tmp_path / "o.jsonl", "--overwrite") == 0
    assert records(tmp_path / "o.jsonl")[0]["tokens"] == 3
    (tmp_path / "bad.txt.gz").write_bytes(b"not gzip at all")
    assert run_score(lm_dir, tmp_path / "bad.txt.gz", "--out", tmp_path / "p.jsonl") == 2
    assert "bad.txt.gz: cannot decompress" in capsys.readouterr().err


def test_dask_on_a_local_cluster_equals_one_process(lm_dir, docs, tmp_path):
    """Two worker processes, each loading the model once; the same figures as `seqlm score`."""
    dd = pytest.importorskip("dask.dataframe")
    db = pytest.importorskip("dask.bag")
    distributed = pytest.importorskip("distributed")
    import pandas as pd

    from seqlm.evaluate.on_dask import COLUMNS, score_dask

    (tmp_path / "d.txt").write_text("\n".join(docs) + "\n")
    assert run_score(lm_dir, tmp_path / "d.txt", "--out", tmp_path / "one.jsonl") == 0
    expected = records(tmp_path / "one.jsonl")
    frame = pd.DataFrame({"text": docs, "n": range(len(docs))})
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        scored = score_dask(dd.from_pandas(frame, npartitions=4), lm_dir).compute()
        bag = score_dask(db.from_sequence(docs, npartitions=3), lm_dir).compute()
    assert scored["n"].tolist() == list(range(len(docs)))
    for name in COLUMNS:
        got = [None if isinstance(v, float) and math.isnan(v) else v for v in scored[name]]
        assert got == [r[name] for r in expected], name
    assert [{k: v for k, v in r.items() if k != "line"} for r in bag] == [
        {k: v for k, v in r.items() if k != "line"} for r in expected
    ]
    assert text_bytes("ab") == 3
