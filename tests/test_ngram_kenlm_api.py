"""`seqlm.ngram.Model` answers as the `kenlm` module does: against KenLM's own query output."""

import gzip
import math

import numpy as np
import pytest

from seqlm.io import SeqlmError
from seqlm.ngram import Model


@pytest.fixture(scope="module")
def kenlm3(data_dir):
    return Model(data_dir / "kenlm" / "ptb.o3.arpa.gz")


@pytest.fixture(scope="module")
def reference(data_dir):
    """Per sentence: the words, and KenLM query's (log10 p, n-gram length) per token."""
    sentences = []
    with gzip.open(data_dir / "kenlm" / "ptb.o3.test.query.txt.gz", "rt") as f:
        for line in f:
            fields = line.split("Total:")[0].split()
            words = [fields[i].rsplit("=", 1)[0] for i in range(0, len(fields), 3)]
            scores = [(float(fields[i + 2]), int(fields[i + 1])) for i in range(0, len(fields), 3)]
            total = float(line.split("Total:")[1].split()[0])
            sentences.append((" ".join(words[:-1]), scores, total))
    return sentences


def test_full_scores_equal_kenlm_query_word_by_word(kenlm3, reference):
    assert len(reference) == 3761
    ours, theirs, lengths, kenlm_lengths = [], [], [], []
    for sentence, scores, _ in reference:
        got = list(kenlm3.full_scores(sentence))
        assert len(got) == len(scores)
        ours += [g[0] for g in got]
        lengths += [g[1] for g in got]
        theirs += [s[0] for s in scores]
        kenlm_lengths += [s[1] for s in scores]
        assert not any(g[2] for g in got)
    np.testing.assert_allclose(ours, theirs, atol=2e-6)
    assert lengths == kenlm_lengths


def test_score_and_perplexity_are_the_totals(kenlm3, reference):
    for sentence, scores, total in reference[:200]:
        assert kenlm3.score(sentence) == pytest.approx(total, abs=2e-5)
        assert kenlm3.perplexity(sentence) == pytest.approx(10 ** (-total / len(scores)), rel=1e-4)


def test_score_of_a_sentence_longer_than_the_kernels_room(kenlm3, reference):
    """Sentences past `fast_words.ROOM` words take their own memory; shorter ones, scored
    after them, reuse the shared one and are unchanged."""
    from seqlm.ngram import fast_words

    words = " ".join(sentence for sentence, _, _ in reference[:400]).split()
    long = " ".join(words[: 3 * fast_words.ROOM])
    by_word = sum(p for p, _, _ in kenlm3.full_scores(long))
    assert kenlm3.score(long) == pytest.approx(by_word, abs=1e-6)
    for sentence, _, total in reference[:50]:
        assert kenlm3.score(sentence) == pytest.approx(total, abs=2e-5)


def test_a_sentence_of_another_type(kenlm3):
    """The compiled call reads a str's memory: anything else takes the checked path (bytes
    as UTF-8, a str subclass as its str, the rest a TypeError), never the kernel."""
    sentence = "the company said it would buy back shares"
    total = kenlm3.score(sentence)
    assert kenlm3.score(sentence.encode()) == total
    assert kenlm3.score(np.str_(sentence)) == total
    assert kenlm3.score(sentence, eos=None) == kenlm3.score(sentence, eos=False) != total
    for bad in (None, 3, ["the"]):
        with pytest.raises(TypeError, match="a sentence is a str"):
            kenlm3.score(bad)


def test_bos_eos_oov_order_and_membership(kenlm3):
    assert kenlm3.order == 3
    assert "the" in kenlm3 and "</s>" in kenlm3 and "<s>" in kenlm3
    assert "zyzzyva" not in kenlm3 and "<unk>" not in kenlm3  # kenlm's convention
    (p_oov, n_oov, oov), (_, n_eos, _) = list(kenlm3.full_scores("zyzzyva"))
    assert oov and n_oov == 1 and n_eos <= 2
    unigram = [s for s, n, _ in kenlm3.full_scores("the", bos=False, eos=False)]
    assert len(unigram) == 1 and list(kenlm3.full_scores("the", bos=False, eos=False))[0][1] == 1
    with_bos = list(kenlm3.full_scores("the", eos=False))[0]
    assert with_bos[1] == 2 and with_bos[0] != unigram[0]
    words = "the stock market fell".split()
    no_eos = kenlm3.score(" ".join(words), eos=False)
    assert no_eos > kenlm3.score(" ".join(words))
    assert math.isfinite(p_oov)


def test_a_missing_model_is_a_one_line_error(tmp_path):
    with pytest.raises(SeqlmError, match="no such model"):
        Model(tmp_path / "nothing.arpa")


# `head -1 test.txt | query -n ptb.o3.arpa.gz` (-n: no <s>, no </s>): KenLM's own figures
KENLM_NO_BOS_EOS = [
    (-3.1073198, 1),
    (-2.7262075, 1),
    (-1.4688163, 2),
    (-1.067548, 3),
    (-4.079182, 1),
    (-1.9148556, 2),
]


def test_without_bos_and_eos_as_query_n(kenlm3):
    got = list(kenlm3.full_scores("no it was n't black monday", bos=False, eos=False))
    np.testing.assert_allclose([g[0] for g in got], [k[0] for k in KENLM_NO_BOS_EOS], atol=2e-6)
    assert [g[1] for g in got] == [k[1] for k in KENLM_NO_BOS_EOS]
    total = kenlm3.score("no it was n't black monday", bos=False, eos=False)
    assert total == pytest.approx(-14.36393, abs=1e-5)
