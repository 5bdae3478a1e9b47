"""Bits per byte and perplexity per word: one yardstick across tokenizers, checked against
an independent computation from `lm.score`; and the Python API's argument handling."""

import math

import numpy as np
import pytest
from conftest import MINI

import seqlm
from seqlm.data import load_corpus
from seqlm.evaluate import EvalResult, evaluate
from seqlm.io import SeqlmError

TEXT = (
    "the cat sat on the mat .\n"
    "a dog ran , the cat sat .\n"
    "the dog sat on a mat"  # a last line without its newline counts as ended
)


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    train = "".join(TEXT + "\n" for _ in range(20))
    (folder / "train.txt").write_text(train, encoding="utf-8")
    (folder / "valid.txt").write_text("the cat ran on the mat .\n", encoding="utf-8")
    (folder / "test.txt").write_text(TEXT, encoding="utf-8")
    return folder


def _reference(lm, text: str) -> tuple[float, float]:
    """Bits per byte and perplexity per word straight from the per-token log-probabilities."""
    nats = -float(np.sum(lm.score(text).log_probs))
    words = sum(len(line.split()) + 1 for line in text.splitlines())
    return nats / math.log(2) / len(text.encode("utf-8")), math.exp(nats / words)


def test_bits_per_byte_and_per_word_match_the_scores(text_dir):
    corpus = load_corpus(str(text_dir))
    lm = seqlm.ngram.build(corpus, 3)
    result = evaluate(lm, corpus, "test")
    bpb, per_word = _reference(lm, TEXT)
    assert result.bits_per_byte == pytest.approx(bpb, abs=1e-5)
    assert result.perplexity_per_word == pytest.approx(per_word, rel=1e-4)
    assert result.text_bytes == len(TEXT.encode()) and result.words == 24
    # whitespace tokens are the words (<eos> counted as one): both perplexities agree
    assert result.perplexity_per_word == pytest.approx(result.perplexity, rel=1e-4)
    assert result.unk_share == 0.0
    assert {"bits_per_byte", "perplexity_per_word", "unk_share"} <= set(result.to_json())


def test_char_model_bits_per_byte_is_bits_per_char_times_chars_per_byte(tmp_path):
    text = "".join(f"line {i} of plain ascii text\n" for i in range(60))
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text(text, encoding="utf-8")
    corpus = load_corpus(str(tmp_path), level="char")
    lm = seqlm.ngram.build(corpus, 4)
    result = evaluate(lm, corpus, "test")
    chars = len(text)
    assert len(text.encode()) == chars  # ASCII: one byte a character
    assert result.bits_per_byte == pytest.approx(result.bits_per_char * chars / chars, abs=1e-5)
    assert result.bits_per_byte == pytest.approx(_reference(lm, text)[0], abs=1e-5)
    assert result.text_bytes == chars


def test_multibyte_text_counts_bytes_not_characters(tmp_path):
    text = "café au lait\nnaïve résumé\n" * 10
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text(text, encoding="utf-8")
    corpus = load_corpus(str(tmp_path), level="char")
    assert corpus.text_bytes["test"] == len(text.encode()) > len(text)
    result = evaluate(seqlm.ngram.build(corpus, 3), corpus, "test")
    expected = result.bits_per_char * len(text) / len(text.encode())
    assert result.bits_per_byte == pytest.approx(expected, abs=1e-5)


def test_counts_survive_the_corpus_cache(text_dir):
    first = load_corpus(str(text_dir))
    again = load_corpus(str(text_dir))  # from the cache this time
    assert isinstance(again["train"], np.memmap)
    assert again.text_bytes == first.text_bytes and again.words == first.words
    assert first.text_bytes["test"] == len(TEXT.encode())
    fresh = load_corpus(str(text_dir), cache=False)
    assert fresh.text_bytes == first.text_bytes and fresh.words == first.words


def test_synthetic_corpus_counts_its_text():
    corpus = load_corpus(MINI)
    for split in ("train", "valid", "test"):
        assert corpus.words[split] == len(corpus[split])  # words + <eos> = tokens
        tokens = corpus.vocab.decode(corpus[split])
        assert tokens[-1] == "<eos>"
        lines = " ".join(tokens[:-1]).split(" <eos> ")
        assert corpus.text_bytes[split] == len("".join(f"{line}\n" for line in lines).encode())


def test_a_corpus_without_counts_reports_none(text_dir):
    corpus = load_corpus(str(text_dir), cache=False)
    corpus.text_bytes, corpus.words = {}, {}
    result = evaluate(seqlm.ngram.build(corpus, 2), corpus, "test")
    assert result.bits_per_byte is None and result.perplexity_per_word is None
    assert result.perplexity is not None
    assert result.to_json()["bits_per_byte"] is None


def test_unk_share_marks_a_closed_vocabulary(text_dir):
    corpus = load_corpus(str(text_dir), max_vocab=5)
    result = evaluate(seqlm.ngram.build(corpus, 2), corpus, "test")
    ids = np.asarray(corpus["test"])
    assert result.unk_share == pytest.approx(np.mean(ids == corpus.vocab.unk_id), abs=1e-6)
    assert result.unk_share > 0


def test_evaluate_loads_the_corpus_it_is_given_by_name(text_dir, tmp_path):
    corpus = load_corpus(str(text_dir))
    lm = seqlm.ngram.build(corpus, 3)
    expected = evaluate(lm, corpus, "test")
    assert evaluate(lm, str(text_dir), "test") == expected
    assert evaluate(lm, seqlm.CorpusSpec(str(text_dir)), "test") == expected
    assert evaluate(lm, text_dir, "test") == expected  # a Path
    lm.save(tmp_path / "model")
    by_path = evaluate(str(tmp_path / "model"), str(text_dir), "test")
    assert by_path.bits_per_byte == expected.bits_per_byte
    with pytest.raises(TypeError, match="Corpus, a CorpusSpec or a string"):
        evaluate(lm, 42, "test")
    with pytest.raises(TypeError, match="model"):
        evaluate(None, corpus, "test")
    with pytest.raises(SeqlmError, match="unknown split"):
        evaluate(lm, corpus, "dev")


@pytest.fixture(scope="module")
def lm(text_dir):
    return seqlm.ngram.build(load_corpus(str(text_dir)), 3)


def test_perplexity_takes_a_list_of_sentences(lm):
    sentences = ["the cat sat on the mat .", "a dog ran , the cat sat ."]
    joined = "the cat sat on the mat .\na dog ran , the cat sat .\n"
    assert lm.perplexity(sentences) == pytest.approx(lm.perplexity(joined))
    assert lm.perplexity(tuple(sentences)) == pytest.approx(lm.perplexity(joined))
    assert lm.score(sentences).tokens.count("<eos>") == 2


@pytest.mark.parametrize("bad", [42, None, b"the cat", ["the cat", 3], {"the": 1}])
def test_perplexity_names_the_accepted_types(lm, bad):
    with pytest.raises(TypeError, match="string or a list/tuple of sentences|must be a string"):
        lm.perplexity(bad)


def test_public_methods_check_their_arguments(lm):
    with pytest.raises(SeqlmError, match="k must be >= 1"):
        lm.next_tokens("the", k=-1)
    with pytest.raises(TypeError, match="k must be an integer"):
        lm.next_tokens("the", k="3")
    with pytest.raises(TypeError, match="prompt must be a string"):
        lm.next_tokens(5)
    assert len(lm.next_tokens("the", k=np.int64(2))) == 2
    with pytest.raises(TypeError, match="max_tokens must be an integer"):
        lm.generate("the", max_tokens="5")
    with pytest.raises(TypeError, match="temperature must be a number"):
        lm.stream("the", temperature="hot")  # checked at the call, before any piece
    with pytest.raises(SeqlmError, match="top-p"):
        lm.generate("the", top_p=2.0)


def test_eval_result_fields_default_to_unknown():
    result = EvalResult("c", "test", "ngram", 1, 0.5, 1.6, 0)
    assert result.bits_per_byte is None and result.unk_share == 0.0


def _row(model: str, tokenizer: str, nats: float, bpb: float, unk: float = 0.0) -> dict:
    return {
        "model": model,
        "tokenizer": tokenizer,
        "test": {"nats_per_token": nats, "bits_per_byte": bpb, "unk_share": unk},
    }


def test_compare_ranks_by_bits_per_byte_when_tokenizers_differ():
    from seqlm.compare.rank import rank_rows

    rows = [_row("chars", "chars", 1.0, 1.9), _row("words", "words", 4.0, 1.5)]
    rule = rank_rows(rows)
    assert rule["unit"] == "bits_per_byte" and "bits per byte" in rule["note"]
    assert [r["model"] for r in rows] == ["words", "chars"]  # per token, chars looked better
    same = [_row("a", "words", 4.0, 1.5), _row("b", "words", 3.0, 1.6)]
    assert rank_rows(same)["unit"] == "perplexity"
    assert [r["model"] for r in same] == ["b", "a"]


def test_closed_vocabulary_models_rank_below_open_ones():
    from seqlm.compare.rank import rank_rows

    rows = [_row("closed", "words", 3.0, 1.0, unk=0.05), _row("open", "bpe:100", 3.5, 1.2)]
    rule = rank_rows(rows)
    assert [r["model"] for r in rows] == ["open", "closed"] and rule["closed_apart"]
    assert "<unk>" in rule["note"]
    alike = [_row("x", "words", 3.0, 1.0, unk=0.05), _row("y", "words", 2.0, 0.9, unk=0.05)]
    assert not rank_rows(alike)["closed_apart"] and alike[0]["model"] == "y"


def test_compare_table_shows_bits_per_byte_and_the_rule(small_corpus, tmp_path):
    from seqlm.compare import compare, format_table, parse_budget, parse_models

    result, _, _ = compare(
        small_corpus, parse_models("ngram:2,ngram:3"), tmp_path, parse_budget("1k")
    )
    table = format_table(result)
    assert "test bpb" in table and "ranked by test perplexity" in table
    assert result["ranked_by"] == "perplexity"
    for row in result["rows"]:
        assert (
            row["test"]["bits_per_byte"]
            == evaluate(seqlm.load(row["path"]), small_corpus, "test").bits_per_byte
        )
