"""lmplz's counts-of-counts rule, checked against figures KenLM printed on a small corpus."""

import numpy as np
import pytest

from seqlm.data import EOS
from seqlm.data.vocab import VocabBuilder
from seqlm.io import SeqlmError
from seqlm.ngram import NgramLM

# `(head -2000 train.txt; echo " zyzzyva ") | lmplz -o 3 -S 100M` (PTB's <unk> renamed
# UNKWORD; KenLM 4cb443e): its "Statistics:" lines and lines of its ARPA.
LMPLZ_DISCOUNTS = [
    (0.544114, 1.04959, 1.58182),
    (0.810285, 1.22082, 1.71555),
    (0.91265, 1.31302, 1.58032),
]
LMPLZ_ARPA = {  # n-gram: (log10 p, log10 backoff); KenLM computes in float32
    ("zyzzyva",): (-4.2415442, -0.09136202),
    ("<unk>",): (-4.400498, 0.0),
    ("the",): (-1.7026271, -0.28831843),
    ("<s>", "zyzzyva"): (-3.9604545, -0.039695803),
    ("zyzzyva", "</s>"): (-0.65641266, 0.0),
    ("<s>", "zyzzyva", "</s>"): (-0.53959495, 0.0),
}


@pytest.fixture(scope="module")
def small_corpus(data_dir):
    """A corpus whose last line is a new word: the n-grams lmplz flushes at the end of its
    adjusted-count stream (`zyzzyva`, `<s> zyzzyva`) have raw count = adjusted count = 1.
    Leaving them out of the counts-of-counts (seqlm's former rule) gives unigram
    D1 = 0.544000, D2 = 1.04979; lmplz counts them (with their raw count): 0.544114."""
    lines = (data_dir / "ptb" / "train.txt").read_text().splitlines()[:2000]
    text = "\n".join(lines).replace("<unk>", "UNKWORD") + "\n zyzzyva \n"
    builder = VocabBuilder(10**6)
    tokens = text.replace("\n", f" {EOS} ").split()
    builder.add(tokens)
    return builder.finish("word")


@pytest.fixture(scope="module")
def small(small_corpus):
    vocab, ids = small_corpus
    return NgramLM.train(ids, vocab, 3)


def test_flushed_ngrams_enter_counts_of_counts_with_their_raw_count(small):
    np.testing.assert_allclose(small.info["discounts"], LMPLZ_DISCOUNTS, atol=5e-6)  # 6 digits


def test_small_corpus_probabilities_equal_lmplz(small):
    assert_arpa_lines(small, LMPLZ_ARPA)


# the same corpus, `lmplz -o 3 -S 100M --prune 0 1 1`: "2 5118/25940", "3 2506/36985"
LMPLZ_PRUNED = {
    ("the",): (-1.7026271, -0.24303368),
    ("zyzzyva",): (-4.2415442, 0.0),  # `zyzzyva </s>` is pruned: all its mass backs off
    ("<s>",): (0.0, -0.5439626),
    ("<s>", "the"): (-0.74781847, -0.15350218),
    ("<s>", "mr."): (-1.4234333, -0.37511164),
    ("the", "company"): (-1.8046031, -0.27078518),
    ("the", "cat"): (-3.302759, 0.0),
    ("UNKWORD", "UNKWORD", "</s>"): (-0.98104805, 0.0),
    ("the", "company", "'s"): (-0.72238386, 0.0),
}


def test_pruning_equals_lmplz_prune(small_corpus):
    vocab, ids = small_corpus
    pruned = NgramLM.train(ids, vocab, 3, prune=[0, 1])
    assert pruned.info["ngrams"] == [4991, 5118, 2506]  # the unigrams include <s>, <unk>
    assert pruned.info["prune"] == [0, 1, 1]
    np.testing.assert_allclose(pruned.info["discounts"], LMPLZ_DISCOUNTS, atol=5e-6)
    assert_arpa_lines(pruned, LMPLZ_PRUNED)
    words = pruned.arpa_words()  # every kept n-gram's context is kept: a valid ARPA
    t = pruned.tables
    for n in range(2, 4):
        assert (t.keys[n - 1] // t.base < len(t.keys[n - 2])).all()
    assert len(words) == t.base


@pytest.mark.parametrize(
    "prune, message",
    [([1, 1], "0 for unigrams"), ([0, 2, 1], "must not decrease"), ([0, 1, 1, 1], "4 pruning")],
)
def test_bad_pruning_thresholds(small_corpus, prune, message):
    vocab, ids = small_corpus
    with pytest.raises(SeqlmError, match=message):
        NgramLM.train(ids[:1000], vocab, 3, prune=prune)


def assert_arpa_lines(model, expected: dict) -> None:
    words = model.arpa_words()
    ids = {w: i for i, w in enumerate(words)}
    t = model.tables
    for gram, (prob, backoff) in expected.items():
        index = ids[gram[0]]
        for j, w in enumerate(gram[1:], 1):  # the j-word prefix's index names the next
            key = index * t.base + ids[w]
            index = int(np.searchsorted(t.keys[j], key))
            assert t.keys[j][index] == key, gram
        n = len(gram)
        assert t.log10_prob[n - 1][index] == pytest.approx(prob, abs=1e-6), gram
        assert t.log10_backoff[n - 1][index] == pytest.approx(backoff, abs=1e-6), gram


@pytest.mark.parametrize("high", [7, 10**6, 2**40, 2**62])  # the last cannot be packed
def test_unique_counts_equals_numpy_unique(high):
    from seqlm.ngram.counts import unique_counts

    keys = np.random.default_rng(high % 1000).integers(0, high, 5000)
    ours = unique_counts(keys)
    theirs = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
