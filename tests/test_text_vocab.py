import json

import numpy as np
import pytest
from conftest import write

from seqlm.data import EOS, UNK, Vocab, detokenize, tokenize
from seqlm.data.text import read_chunks
from seqlm.data.vocab import VocabBuilder
from seqlm.io import SeqlmError


def test_word_tokens_close_every_line_with_eos():
    assert tokenize(" a b \n\nc\td", "word") == ["a", "b", EOS, EOS, "c", "d", EOS]
    assert tokenize("x y\r\n", "word") == ["x", "y", EOS]


def test_char_tokens_close_lines_with_eos_and_keep_unicode():
    assert tokenize("né\n🙂", "char") == ["n", "é", EOS, "🙂", EOS]
    assert detokenize(["a", "b", EOS, "c", EOS], "word") == "a b\nc\n"


def test_chunked_reading_equals_whole_file(tmp_path):
    lines = [f"line {i} " + "é" * (i % 7) for i in range(500)]
    path = write(tmp_path / "t.txt", "\n".join(lines))  # no final newline
    pieces = list(read_chunks(path, chunk_bytes=64))
    assert len(pieces) > 10
    assert all(p.endswith("\n") for p in pieces[:-1])
    assert "".join(pieces) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"ab\x00cd\n", "binary"), (b"caf\xe9\n", "not UTF-8")],
)
def test_unusable_files_are_named(tmp_path, content, message):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(SeqlmError, match=message):
        list(read_chunks(path))


def test_vocab_orders_by_frequency_then_first_occurrence():
    builder = VocabBuilder(100)
    builder.add("b a c a b d".split())
    builder.add("e d a".split())
    vocab, ids = builder.finish("word")
    # a:3 first@1; b:2 first@0; d:2 first@5; c:1 first@2; e:1 first@6; then <unk>
    assert vocab.tokens == ["a", "b", "d", "c", "e", UNK]
    assert vocab.decode(ids) == "b a c a b d e d a".split()


def test_vocab_cut_maps_rare_words_to_unk():
    builder = VocabBuilder(100)
    builder.add("a a a b b c".split())
    vocab, ids = builder.finish("word", min_count=2)
    assert vocab.tokens == ["a", "b", UNK]
    assert ids.tolist() == [0, 0, 0, 1, 1, 2]
    builder = VocabBuilder(100)
    builder.add("a a a b b c".split())
    vocab, _ = builder.finish("word", max_size=2)
    assert vocab.tokens == ["a", UNK]


def test_literal_unk_in_training_text_is_an_ordinary_counted_word():
    builder = VocabBuilder(100)
    builder.add(f"x {UNK} {UNK} y x x".split())
    vocab, _ = builder.finish("word")
    assert vocab.tokens == ["x", UNK, "y"] and vocab.counts == [3, 2, 1]
    assert vocab.encode(["y", "never-seen"]).tolist() == [2, 1]


def test_vocab_json_round_trip_and_corruption(tmp_path):
    vocab = Vocab(["the", "é", UNK], [5, 2, 0], "word")
    vocab.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json") == vocab
    write(tmp_path / "bad.json", '{"format": "seqlm-vocab", "tokens": ')
    with pytest.raises(SeqlmError, match="corrupt vocabulary"):
        Vocab.load(tmp_path / "bad.json")
    write(tmp_path / "newer.json", json.dumps({**vocab.to_json(), "version": 99}))
    with pytest.raises(SeqlmError, match="newer"):
        Vocab.load(tmp_path / "newer.json")


def test_encode_is_int32():
    vocab = Vocab(["a", UNK])
    assert vocab.encode(["a", "z"]).dtype == np.int32


def test_combined_parts_equal_one_pass():
    """Parts whose new words come after known ones (the case that left gaps in the ids)."""
    rng = np.random.default_rng(3)
    chunks = [[f"w{i}" for i in rng.integers(0, 40 + 30 * k, 200)] for k in range(5)]
    parts = []
    for chunk in chunks:
        builder = VocabBuilder(len(chunk))
        builder.add(chunk)
        parts.append(builder.part())
    combined = VocabBuilder.combine(parts)
    one = VocabBuilder(1000)
    for chunk in chunks:
        one.add(chunk)
    words, counts, ids = combined.part()
    flat = sum(chunks, [])
    assert words == list(dict.fromkeys(flat))  # first-occurrence order
    assert counts.tolist() == [flat.count(w) for w in words]
    assert [words[i] for i in ids] == flat
    vocab, train = combined.finish("word")
    vocab_one, train_one = one.finish("word")
    assert vocab == vocab_one and np.array_equal(train, train_one)


def test_read_chunks_drops_a_leading_byte_order_mark_only(tmp_path):
    path = write(tmp_path / "b.txt", "\ufeff".encode() + "a\ufeffb\nc\n".encode())
    assert "".join(read_chunks(path, chunk_bytes=4)) == "a\ufeffb\nc\n"
    assert tokenize("".join(read_chunks(path)), "word")[0] == "a\ufeffb"


def test_os_errors_name_the_path_and_reason(tmp_path, monkeypatch):
    with pytest.raises(SeqlmError, match="is a directory"):
        list(read_chunks(tmp_path))
    with pytest.raises(SeqlmError, match="is a directory"):
        Vocab.load(tmp_path)
    path = write(tmp_path / "v.json", "{}")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(path), "read_text", denied)
    with pytest.raises(SeqlmError, match=r"v.json: permission denied$"):
        Vocab.load(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": "1"}, "version"),
        ({"counts": [1, "2", 0]}, "counts"),
        ({"counts": [1, -2, 0]}, "counts"),
        ({"counts": [1, 2]}, "differ in length"),
        ({"level": ["word"]}, "level"),
        ({"level": "byte"}, "unknown tokenizer"),
        ({"tokens": ["a", "a", UNK]}, "duplicate"),
        ({"tokens": ["a", "b", "c"]}, "no <unk>"),
    ],
)
def test_vocab_file_with_bad_fields_is_refused(tmp_path, change, message):
    data = {**Vocab(["a", "b", UNK], [3, 2, 0]).to_json(), **change}
    path = write(tmp_path / "v.json", json.dumps(data))
    with pytest.raises(SeqlmError, match=message):
        Vocab.load(path)
