"""The tokenizer is a corpus setting: every model directory carries its own, and text goes
in and comes out through it (scores, spans, generation), for every tokenizer."""

import json
import os
import warnings

import numpy as np
import pytest
from conftest import write

import seqlm
from seqlm.data import load_corpus
from seqlm.data.spec import CorpusSpec
from seqlm.data.tokenizers import EOS, choose
from seqlm.data.vocab import Vocab
from seqlm.io import SeqlmError
from seqlm.ngram import NgramLM
from seqlm.train import Trainer, make_config

LINES = [
    'Hello, world! "Quoted" text; with punctuation: (and brackets).',
    "It's raw text -- déjà vu, naïve café 🙂 and numbers 3.14 or 1,000.",
    "  Indented line\twith a tab, and  two spaces.",
    "The quick brown fox jumps over the lazy dog.",
]
TEXT = "\n".join(LINES) + "\n"
UNSEEN = "Zebras: ünïcode ĳ words & symbols!\nHello, quick fox.\n"
TOKENIZERS = ["whitespace", "words", "chars", "bytes", "bpe:40"]
REVERSIBLE = ["words", "chars", "bytes", "bpe:40"]


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    """A small raw-text corpus (punctuation glued to words)."""
    d = tmp_path_factory.mktemp("raw")
    write(d / "train.txt", TEXT * 20)
    write(d / "valid.txt", TEXT + UNSEEN)
    write(d / "test.txt", UNSEEN + TEXT)
    return d


def ngram_dir(corpus, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny data: KN discount fallbacks
        model = NgramLM.train(corpus["train"], corpus.vocab, 3)
    model.save(path, extra={"corpus": corpus.spec.to_json()})
    return path


def lstm_dir(corpus, path):
    overrides = {
        "cell": "lstm",
        "embed": 8,
        "hidden": 8,
        "layers": 1,
        "batch_size": 4,
        "bptt": 10,
        "max_tokens": 400,
        "eval_every": 0,
        "threads": 1,
        "deterministic": True,
    }
    Trainer(make_config(corpus, None, overrides), corpus, path).run()
    return path


@pytest.mark.parametrize("name", TOKENIZERS)
@pytest.mark.parametrize("kind", ["ngram", "lstm"])
def test_model_directory_carries_its_tokenizer(raw_dir, tmp_path, name, kind):
    corpus = load_corpus(CorpusSpec(str(raw_dir), tokenizer=name))
    assert corpus.spec.tokenizer == name
    path = (ngram_dir if kind == "ngram" else lstm_dir)(corpus, tmp_path / "model")
    assert json.loads((path / "config.json").read_text())["corpus"]["tokenizer"] == name
    assert (path / "tokenizer.json").exists() == name.startswith("bpe:")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)  # nothing is read relative to where the model was trained
    try:
        lm = seqlm.load(os.path.relpath(path, elsewhere))
    finally:
        os.chdir(cwd)
    assert lm.tokenizer.name == name
    assert lm.vocab == corpus.vocab
    for text in (TEXT, UNSEEN):
        tokens = lm.tokenizer.encode(text)
        assert tokens[-1] == EOS
        if name in REVERSIBLE:
            assert lm.tokenizer.decode(tokens) == text
    # scores: the same tokens, and spans that slice the original text into them
    scores = lm.score(UNSEEN)
    assert scores.tokens == lm.tokenizer.encode(UNSEEN)
    assert len(scores.spans) == len(scores.tokens)
    if name in ("words", "chars", "whitespace"):
        for token, (a, b) in zip(scores.tokens, scores.spans, strict=True):
            shown = "\n" if token == EOS else token.removeprefix("⁀")
            assert UNSEEN[a:b] == shown
    else:  # bytes and subwords: the spans tile the text
        assert "".join(UNSEEN[a:b] for a, b in scores.spans) == UNSEEN
    assert np.isfinite(scores.log_probs).all()
    # generation prints text whose tokens read back as the same text
    out = lm.generate("Hello", max_tokens=30, seed=3)
    if name in REVERSIBLE:
        again = lm.tokenizer.decode(lm.tokenizer.encode(out))
        assert again.rstrip("\n") == out.rstrip("\n")
    if name == "words":
        assert "⁀" not in out


@pytest.mark.parametrize("name", ["bytes", "bpe:40"])
def test_open_vocabularies_have_no_unk_in_any_split(raw_dir, name):
    corpus = load_corpus(CorpusSpec(str(raw_dir), tokenizer=name, max_vocab=5))
    for split in ("train", "valid", "test"):
        assert not (np.asarray(corpus[split]) == corpus.vocab.unk_id).any()
        assert corpus.oov[split] == 0
    assert corpus.vocab.counts[corpus.vocab.unk_id] == 0  # kept only as a name


def test_closed_vocabularies_meet_unk(raw_dir):
    corpus = load_corpus(CorpusSpec(str(raw_dir), tokenizer="words"))
    assert corpus.oov["valid"] > 0  # "Zebras", "ünïcode" ... never seen in train


def test_bpe_5gram_trains_saves_loads_and_evaluates(raw_dir, tmp_path):
    corpus = load_corpus(CorpusSpec(str(raw_dir), tokenizer="bpe:60"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = NgramLM.train(corpus["train"], corpus.vocab, 5)
    model.save(tmp_path / "bpe5", extra={"corpus": corpus.spec.to_json()})
    lm = seqlm.load(tmp_path / "bpe5")
    result = seqlm.evaluate(lm, corpus, "test")
    assert np.isfinite(result.perplexity)
    assert result.nats_per_token == pytest.approx(
        seqlm.evaluate(model, corpus, "test").nats_per_token
    )


def test_level_is_an_alias_and_the_spec_round_trips():
    assert CorpusSpec("x", level="char").tokenizer == "chars"
    assert CorpusSpec("x", level="word").tokenizer == "whitespace"
    spec = CorpusSpec("x", tokenizer="bpe:0100")
    assert spec.tokenizer == "bpe:100"
    assert CorpusSpec.from_json(spec.to_json()) == spec
    assert CorpusSpec.from_json({"source": "x", "level": "char"}).tokenizer == "chars"
    with pytest.raises(SeqlmError, match="unknown tokenizer"):
        CorpusSpec("x", tokenizer="sentencepiece")
    with pytest.raises(SeqlmError, match="means tokenizer"):
        CorpusSpec("x", level="char", tokenizer="words")


def test_the_cache_key_includes_the_tokenizer(raw_dir):
    words = load_corpus(CorpusSpec(str(raw_dir), tokenizer="words"))
    chars = load_corpus(CorpusSpec(str(raw_dir), tokenizer="chars"))
    assert words.vocab.tokenizer_name == "words" and chars.vocab.tokenizer_name == "chars"
    again = load_corpus(CorpusSpec(str(raw_dir), tokenizer="bpe:40"))
    assert again.vocab.tokenizer.name == "bpe:40"
    assert again.vocab == load_corpus(CorpusSpec(str(raw_dir), tokenizer="bpe:40")).vocab


def test_default_tokenizer_follows_the_text(raw_dir, tmp_path, caplog):
    assert choose(["the cat sat on the mat .", "mr. smith 's <unk> n't"])[0] == "whitespace"
    assert choose(["Hello, world! The cat sat.", 'He said: "no".'])[0] == "words"
    with caplog.at_level("INFO", logger="seqlm.data.corpus"):
        corpus = load_corpus(str(raw_dir))
    assert corpus.spec.tokenizer == "words"
    assert "raw text" in caplog.text and "carry punctuation" in caplog.text
    pre = tmp_path / "pre.txt"
    write(pre, "the cat sat on the mat .\nmr. smith 's dog , too\n" * 50)
    assert load_corpus(str(pre)).spec.tokenizer == "whitespace"
    assert (
        load_corpus("synthetic:train_tokens=2000,valid_tokens=300,test_tokens=300").spec.tokenizer
        == "whitespace"
    )
    with pytest.raises(SeqlmError, match="synthetic"):
        load_corpus(CorpusSpec("synthetic", tokenizer="words"))


def test_shared_corpora_keep_their_tokenizers(data_dir):
    """PTB is pre-tokenised (and its preset says whitespace); Tiny Shakespeare is raw."""
    from seqlm.data.text import read_chunks

    ptb = data_dir / "ptb" / "train.txt"
    assert choose(next(read_chunks(ptb, 0, 1 << 20, 1 << 20)).split("\n"))[0] == "whitespace"
    shakespeare = data_dir / "tinyshakespeare" / "input.txt"
    sample = next(read_chunks(shakespeare, 0, 1 << 20, 1 << 20)).split("\n")
    assert choose(sample)[0] == "words"
    corpus = load_corpus(str(data_dir / "ptb"))
    assert corpus.spec.tokenizer == "whitespace" and len(corpus.vocab) == 10_000
    assert len(corpus["train"]) == 929_589  # every figure as before: same tokens


def test_format1_char_vocabulary_reads_its_line_ends_as_eos(tmp_path):
    old = {"format": "seqlm-vocab", "version": 1, "level": "char", "unk": "<unk>"}
    old |= {"tokens": ["a", "\n", "b", "<unk>"], "counts": [3, 2, 1, 0]}
    write(tmp_path / "vocab.json", json.dumps(old))
    vocab = Vocab.load(tmp_path / "vocab.json")
    assert vocab.tokenizer.name == "chars" and vocab.level == "char"
    assert vocab.tokens == ["a", EOS, "b", "<unk>"]
    assert vocab.encode(vocab.tokenizer.encode("ab\n")).tolist() == [0, 2, 1]


def test_a_bpe_directory_without_its_tokenizer_is_refused(raw_dir, tmp_path):
    corpus = load_corpus(CorpusSpec(str(raw_dir), tokenizer="bpe:40"))
    path = ngram_dir(corpus, tmp_path / "m")
    (path / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SeqlmError, match="tokenizer"):
        seqlm.load(path)
