"""The vectorised ARPA reader: block boundaries, mixed line shapes, and corrupt files."""

import gzip
import warnings

import numpy as np
import pytest
from conftest import SMALL_2K

from seqlm.data import EOS, load_corpus
from seqlm.data.vocab import VocabBuilder
from seqlm.evaluate import evaluate
from seqlm.io import SeqlmError
from seqlm.ngram import NgramLM, arpa_read, fast, read_arpa, write_arpa


@pytest.fixture(scope="module")
def model():
    corpus = load_corpus(SMALL_2K)
    return NgramLM.train(corpus["train"], corpus.vocab, 4), corpus


def tables_equal(a, b) -> None:
    assert a.base == b.base and a.order == b.order
    for n in range(a.order):
        np.testing.assert_array_equal(a.keys[n], b.keys[n])
        np.testing.assert_allclose(a.log10_prob[n], b.log10_prob[n], atol=1e-6)
        if n < a.order - 1:
            np.testing.assert_allclose(a.log10_backoff[n], b.log10_backoff[n], atol=1e-6)


def test_tiny_blocks_read_the_same_tables(model, tmp_path, monkeypatch):
    lm, _ = model
    write_arpa(lm.tables, lm.arpa_words(), tmp_path / "m.arpa")
    words, whole = read_arpa(tmp_path / "m.arpa")
    assert words == lm.arpa_words()
    tables_equal(whole, lm.tables)
    monkeypatch.setattr(arpa_read, "BLOCK", 997)  # every few dozen lines; lines across blocks
    _, blocks = read_arpa(tmp_path / "m.arpa")
    tables_equal(blocks, whole)


def test_lines_without_a_backoff_and_unsorted_ngrams(tmp_path):
    # SRILM leaves out zero backoffs; n-grams may come in any order
    text = (
        "\\data\\\nngram 1=4\nngram 2=3\n\n\\1-grams:\n-1.0\t</s>\n-99\t<s>\t-0.3\n"
        "-0.5\ta\t-0.2\n-0.7\tb\n\n\\2-grams:\n-0.1\tb </s>\n-0.2\t<s> a\n-0.3\ta b\n\\end\\\n"
    )
    (tmp_path / "m.arpa").write_text(text)
    words, t = read_arpa(tmp_path / "m.arpa")
    assert words == ["</s>", "a", "b", "<s>"]
    np.testing.assert_allclose(t.log10_prob[0], [-1.0, -0.5, -0.7, -99])
    np.testing.assert_allclose(t.log10_backoff[0], [0, -0.2, 0, -0.3])
    names = [(words[k // 4], words[k % 4]) for k in t.keys[1]]
    assert names == [("a", "b"), ("b", "</s>"), ("<s>", "a")]
    np.testing.assert_allclose(t.log10_prob[1], [-0.3, -0.1, -0.2])


HEADER = "\\data\\\nngram 1=2\nngram 2={}\nngram 3=1\n\n\\1-grams:\n-1\ta\t0\n-1\tb\t0\n\n"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            HEADER.format(0) + "\\2-grams:\n\n\\3-grams:\n-1\ta b a\n\\end\\\n",
            ":13: the context of 'a b a' is not in the model",
        ),
        (
            HEADER.format(0) + "\\2-grams:\n-1\ta b\t0\n\n\\3-grams:\n-1\ta b a\n\\end\\\n",
            ":11: \\\\2-grams: header says 0, found more",
        ),
        (
            HEADER.format(1) + "\\2-grams:\n-1\ta b\t0\n\n\\3-grams:\n0.5\ta b a\n\\end\\\n",
            ":14: positive log10 probability 0.5",
        ),
        (
            HEADER.format(1)
            + "\\2-grams:\n-1\ta b\t0\n-1\tb a\t0\n\n\\3-grams:\n-1\ta b a\n\\end\\\n",
            ":12: \\\\2-grams: header says 1, found more",
        ),
        (
            HEADER.format(1) + "\\2-grams:\n-1\ta b c d\n\n\\3-grams:\n-1\ta b a\n\\end\\\n",
            ":11: expected a 2-gram line",
        ),
        (
            HEADER.format(1) + "\\2-grams:\n-1\ta b\tnan\n\n\\3-grams:\n-1\ta b a\n\\end\\\n",
            ":11: bad number 'nan'",
        ),
        (
            HEADER.format(1) + "\\2-grams:\n-1\ta b\t0\n\n\\3-grams:\n-1\ta b a\n\\end\\\nmore\n",
            "text after \\\\end",
        ),
    ],
)
@pytest.mark.parametrize("compiled", [True, False])
def test_bad_files_are_one_line_errors_with_the_line_number(
    tmp_path, text, message, compiled, monkeypatch
):
    monkeypatch.setattr(fast, "USE", compiled and fast.numba is not None)
    (tmp_path / "bad.arpa").write_text(text)
    with pytest.raises(SeqlmError, match=message):
        read_arpa(tmp_path / "bad.arpa")


def test_compiled_reader_equals_the_python_one_bit_for_bit(model, tmp_path, monkeypatch):
    """The compiled number parser, word lookup and context search (`fast_words`) give the
    pure-Python reader's arrays exactly, whatever the numbers' spelling (exponents, 17
    digits, signs: some beyond the compiled parser's exact range, read by Python)."""
    pytest.importorskip("numba")
    lm, _ = model
    write_arpa(lm.tables, lm.arpa_words(), tmp_path / "m.arpa")
    rng = np.random.default_rng(0)
    lines = []
    for line in (tmp_path / "m.arpa").read_text().splitlines():
        number, tab, rest = line.partition("\t")
        if tab and number[:1] == "-":  # respell: 1.25e-1, 17 digits, a leading +/0
            value = float(number)
            spelled = [f"{value:.6e}", f"{value:+.9f}", f"{value:.4f}0", repr(value * (1 + 1e-15))]
            number = spelled[rng.choice(4, p=[0.3, 0.3, 0.38, 0.02])]
        lines.append(number + tab + rest)
    (tmp_path / "odd.arpa").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(arpa_read, "BLOCK", 997)  # blocks with and without a 17-digit number
    monkeypatch.setattr(fast, "USE", True)
    words, compiled = read_arpa(tmp_path / "odd.arpa")
    monkeypatch.setattr(fast, "USE", False)
    words_py, python = read_arpa(tmp_path / "odd.arpa")
    assert words == words_py
    for n in range(compiled.order):
        for a, b in ((compiled.keys, python.keys), (compiled.log10_prob, python.log10_prob)):
            assert np.array_equal(np.asarray(a[n]), np.asarray(b[n]))
        assert np.array_equal(compiled.log10_backoff[n], python.log10_backoff[n])
    for n in range(lm.order):  # and the model's own (4 decimals in some lines)
        np.testing.assert_allclose(compiled.log10_prob[n], lm.tables.log10_prob[n], atol=1e-4)


def test_gzip_whose_crc_does_not_match_is_an_error(model, tmp_path):
    lm, _ = model
    path = tmp_path / "m.arpa.gz"
    write_arpa(lm.tables, lm.arpa_words(), path)
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the trailer's CRC32: the text itself decompresses intact
    path.write_bytes(bytes(data))
    with pytest.raises(gzip.BadGzipFile):  # the text itself decompresses intact
        gzip.decompress(bytes(data))
    with pytest.raises(SeqlmError, match="unreadable ARPA file"):
        read_arpa(path)
    data[-8] ^= 0xFF
    data[len(data) // 2] ^= 0x55  # the compressed stream itself
    path.write_bytes(bytes(data))
    # whatever the damaged stream decodes to, the error names the file (one line)
    with pytest.raises(SeqlmError, match=r"m\.arpa\.gz"):
        read_arpa(path)


def test_a_header_declaring_absurd_counts_is_an_error(tmp_path):
    (tmp_path / "big.arpa").write_text(
        "\\data\\\nngram 1=99999999999999\n\n\\1-grams:\n-1\ta\n\\end\\\n"
    )
    with pytest.raises(SeqlmError, match="more n-grams than memory|header says"):
        read_arpa(tmp_path / "big.arpa")


def test_kenlm_unk_entry_against_a_literal_unk_warns_once(data_dir):
    kenlm = NgramLM.from_arpa(data_dir / "kenlm" / "ptb.o3.arpa.gz")
    assert kenlm.info["unk_is_oov_entry"]
    ptb = load_corpus("ptb")
    with pytest.warns(UserWarning, match="UNKWORD") as caught:
        evaluate(kenlm, ptb, "valid")
        evaluate(kenlm, ptb, "test")
    assert len([w for w in caught if "UNKWORD" in str(w.message)]) == 1


def test_a_trained_unk_does_not_warn(tmp_path):
    text = "the <unk> sat\na <unk> ran\nthe cat sat\n" * 20
    builder = VocabBuilder(10**4)
    builder.add(text.replace("\n", f" {EOS} ").split())
    vocab, ids = builder.finish("word")
    lm = NgramLM.train(ids, vocab, 2, "wb")
    write_arpa(lm.tables, lm.arpa_words(), tmp_path / "m.arpa")
    again = NgramLM.from_arpa(tmp_path / "m.arpa")
    assert not again.info["unk_is_oov_entry"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again.warn_unk_convention(vocab, ids)
