"""The fallback-discount warning: said in one line where it matters, silent where expected."""

import warnings

import numpy as np
import pytest

from seqlm.ngram.smoothing import FALLBACK_DISCOUNTS, discounts_from_counts


def test_no_rare_ngrams_at_all_is_expected_and_silent():
    # the built-in corpus's unigrams: ~170 words, each seen hundreds of times
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert discounts_from_counts(np.array([500, 800, 1200]), 1) == FALLBACK_DISCOUNTS


def test_too_few_rare_ngrams_warns_in_one_line_that_explains_itself():
    with pytest.warns(UserWarning) as caught:
        assert discounts_from_counts(np.array([1, 1, 3, 9]), 2) == FALLBACK_DISCOUNTS
    message = str(caught[0].message)
    assert "\n" not in message and "[2, 0, 1, 0]" in message and "Kneser-Ney" in message
