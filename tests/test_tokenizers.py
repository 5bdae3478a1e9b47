"""Tokenizers: each reversible one gives the text back byte for byte, on corpora and on
arbitrary Unicode; the open-vocabulary ones need no <unk>."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlm.data.tokenizers import BPE, EOS, GLUE, check_name, make
from seqlm.io import SeqlmError

REVERSIBLE = ("words", "chars", "bytes")
SAMPLES = [
    "Return the number of items in the list.\n",
    "  indented,  doubled\tspaces (and brackets) \r\n\n e\u2040\u2040f . <eos> <0x41>\n",
    "héllo wörld — 日本語のテキスト! ok?\n",
    "no final newline",
]


def with_line_end(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


@pytest.mark.parametrize("name", REVERSIBLE)
@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip(name, text):
    tokenizer = make(name)
    tokens = tokenizer.encode(text)
    assert tokens.count(EOS) == with_line_end(text).count("\n")
    assert tokenizer.decode(tokens) == with_line_end(text)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=80))
def test_words_round_trip_on_any_unicode(text):
    for name in REVERSIBLE:
        tokenizer = make(name)
        assert tokenizer.decode(tokenizer.encode(text)) == with_line_end(text)


def test_words_split_punctuation_and_mark_only_glued_tokens():
    tokens = make("words").encode("Return the list. (Really) ok\n")
    assert tokens == [
        *["Return", "the", "list", GLUE + "."],
        *["(", GLUE + "Really", GLUE + ")", "ok", EOS],
    ]


def test_streaming_decode_equals_whole_decode():
    for name in REVERSIBLE:
        tokenizer = make(name)
        tokens = tokenizer.encode(SAMPLES[2])
        joiner = tokenizer.joiner()
        assert "".join(joiner.piece(t) for t in tokens) + joiner.flush() == SAMPLES[2]


def test_bpe_is_reversible_and_open():
    lines = ["the cat sat on the mat.", "a dog, the cat and the mat!"] * 40
    bpe = BPE.train(lines, 40)
    text = "the zebra sat — naïvely.\nthe end\n"
    tokens = bpe.encode(text)
    assert bpe.decode(tokens) == text
    alphabet = set(bpe.alphabet())
    assert all(t in alphabet for t in tokens if t != EOS)  # nothing outside: no <unk>
    assert len(alphabet) <= 256 + 40


def test_bpe_saved_and_loaded(tmp_path):
    bpe = BPE.train(["one two three two one"] * 20, 10)
    bpe.save(tmp_path / "tokenizer.json")
    again = make("bpe:10", tmp_path)
    assert again.encode("one two\n") == bpe.encode("one two\n")


def test_names():
    assert check_name("word") == "whitespace" and check_name("char") == "chars"
    assert check_name("bpe:0100") == "bpe:100"
    for bad in ("bpe", "bpe:0", "bpe:x", "sentencepiece"):
        with pytest.raises(SeqlmError, match="unknown tokenizer"):
            check_name(bad)
    with pytest.raises(SeqlmError, match="tokenizer.json"):
        make("bpe:10")
