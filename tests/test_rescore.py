"""`seqlm rescore` on a synthetic n-best list (tests/rescore_cases.py): weights tuned on
dev only, WER before/after/oracle on test, JSONL and Kaldi input, the CLI."""

import copy
import json

import pytest
from rescore_cases import nbest, rescore_each
from speech_cases import sentences

import seqlm
from seqlm.cli import main
from seqlm.evaluate.nbest import read_nbest, write_nbest
from seqlm.evaluate.rescore import RescoreConfig, rescore

CORPUS = "synthetic:train_tokens=100000,valid_tokens=5000,test_tokens=5000"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    corpus = seqlm.load_corpus(CORPUS)
    root = tmp_path_factory.mktemp("rescore")
    seqlm.ngram.build(corpus, order=5).save(root / "5gram")
    # 3 epochs: an LSTM about as good as the 5-gram, each catching errors the other misses;
    # trained longer it catches both kinds and the pair only equals it (bench/rescore.py)
    seqlm.train(corpus, root / "lstm", cell="lstm", epochs=3, threads=1, seed=1, mixture=False)
    dev = nbest(sentences(corpus, "valid", 200), seed=1)
    test = nbest(sentences(corpus, "test", 200), seed=2)
    write_nbest(root / "dev.jsonl", dev, [list(range(len(u.texts))) for u in dev])
    write_nbest(root / "test.jsonl", test, [list(range(len(u.texts))) for u in test])
    return root, dev, test


def test_rescoring_lowers_the_test_wer(setup):
    root, dev, test = setup
    lstm, ngram = seqlm.load(root / "lstm"), seqlm.load(root / "5gram")
    runs = rescore_each(dev, test, lstm, ngram)
    for name, r in runs.items():
        print(f"{name}: test WER {r.test.before:.4f} -> {r.test.after:.4f}, weights {r.weights}")
    first_pass = runs["both"].test.before
    assert first_pass > 0.05 and runs["both"].test.oracle == 0.0
    assert all(r.test.after < first_pass / 2 for r in runs.values())
    # the pair beats either alone, on dev (where its weights come from) and on test
    alone = ("lstm", "5-gram")
    assert runs["both"].test.after < min(runs[name].test.after for name in alone)
    assert runs["both"].dev.after < min(runs[name].dev.after for name in alone)


def test_weights_come_from_dev_only(setup):
    """Scrambling the test references changes the reported test WER, never the weights."""
    root, dev, test = setup
    ngram = seqlm.load(root / "5gram")
    scrambled = copy.deepcopy(test)
    for u in scrambled:
        u.reference = "nothing like it"
    a = rescore(copy.deepcopy(dev), copy.deepcopy(test), {"5gram": ngram})
    b = rescore(copy.deepcopy(dev), scrambled, {"5gram": ngram})
    assert a.weights == b.weights and a.test.after != b.test.after


def test_kaldi_directory_reads_as_jsonl(tmp_path):
    (tmp_path / "text").write_text("u1-1 the cat sleeps\nu1-2 the cats sleeps\nu2-1 a dog\n")
    (tmp_path / "ac_cost").write_text("u1-1 10.5\nu1-2 9.0\nu2-1 3\n")
    (tmp_path / "lm_cost").write_text("u1-1 1\nu1-2 4\nu2-1 0\n")
    (tmp_path / "ref").write_text("u1 the cat sleeps\nu2 a dog\n")
    utts = read_nbest(tmp_path)
    assert [(u.id, u.texts, u.scores, u.reference) for u in utts] == [
        ("u1", ["the cat sleeps", "the cats sleeps"], [-11.5, -13.0], "the cat sleeps"),
        ("u2", ["a dog"], [-3.0], "a dog"),
    ]


def test_cli_writes_the_reranked_list(setup, tmp_path, capsys):
    root, _, _ = setup
    out = tmp_path / "reranked.jsonl"
    args = ["rescore", "--dev", str(root / "dev.jsonl"), "--test", str(root / "test.jsonl")]
    code = main([*args, "--model", str(root / "5gram"), "--out", str(out), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test"]["after"] < report["test"]["before"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 200
    totals = [h["total"] for h in lines[0]["hypotheses"]]
    assert totals == sorted(totals, reverse=True)
    best = [line["hypotheses"][0]["text"] for line in lines]
    refs = [line["reference"] for line in lines]
    from seqlm.evaluate.wer import wer

    assert wer(refs, best) == pytest.approx(report["test"]["after"])


def test_cli_bad_input_is_one_line(setup, tmp_path, capsys):
    root, _, _ = setup
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    code = main(["rescore", "--dev", str(bad), "--test", str(bad), "--model", str(root / "5gram")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "bad.jsonl:1" in err


def test_config_grid_is_checked():
    with pytest.raises(seqlm.SeqlmError, match="numbers"):
        rescore([], [], {"x": None}, RescoreConfig(lm_weights="a,b"))
