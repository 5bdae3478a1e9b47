"""lmplz's counts-of-counts rule, checked against figures KenLM printed on a small corpus."""

import numpy as np
import pytest

from seqlm.data import EOS
from seqlm.data.vocab import VocabBuilder
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
def small(data_dir):
    """A corpus whose last line is a new word: the n-grams lmplz flushes at the end of its
    adjusted-count stream (`zyzzyva`, `<s> zyzzyva`) have raw count = adjusted count = 1.
    Leaving them out of the counts-of-counts (seqlm's former rule) gives unigram
    D1 = 0.544000, D2 = 1.04979; lmplz counts them (with their raw count): 0.544114."""
    lines = (data_dir / "ptb" / "train.txt").read_text().splitlines()[:2000]
    text = "\n".join(lines).replace("<unk>", "UNKWORD") + "\n zyzzyva \n"
    builder = VocabBuilder(10**6)
    tokens = text.replace("\n", f" {EOS} ").split()
    builder.add(tokens)
    vocab, ids = builder.finish("word")
    return NgramLM.train(ids, vocab, 3)


def test_flushed_ngrams_enter_counts_of_counts_with_their_raw_count(small):
    np.testing.assert_allclose(small.info["discounts"], LMPLZ_DISCOUNTS, atol=5e-6)  # 6 digits


def test_small_corpus_probabilities_equal_lmplz(small):
    words = small.arpa_words()
    ids = {w: i for i, w in enumerate(words)}
    t = small.tables
    for gram, (prob, backoff) in LMPLZ_ARPA.items():
        index = ids[gram[0]]
        for j, w in enumerate(gram[1:], 1):  # the j-word prefix's index names the next
            key = index * t.base + ids[w]
            index = int(np.searchsorted(t.keys[j], key))
            assert t.keys[j][index] == key, gram
        n = len(gram)
        assert t.log10_prob[n - 1][index] == pytest.approx(prob, abs=1e-6), gram
        assert t.log10_backoff[n - 1][index] == pytest.approx(backoff, abs=1e-6), gram
