"""seqlm models inside pyctcdecode's CTC beam search, on a synthetic problem whose
ambiguous spellings only a language model can resolve (tests/speech_cases.py)."""

import math

import numpy as np
import pytest

pytest.importorskip("pyctcdecode")

from speech_cases import problem  # noqa: E402

import seqlm  # noqa: E402
from seqlm.evaluate.wer import wer, word_errors  # noqa: E402
from seqlm.speech import SeqlmLanguageModel, build_ctc_decoder  # noqa: E402

CORPUS = "synthetic:train_tokens=100000,valid_tokens=5000,test_tokens=5000"
ALPHA, BETA = 0.5, 1.0


@pytest.fixture(scope="module")
def corpus():
    return seqlm.load_corpus(CORPUS)


@pytest.fixture(scope="module")
def five_gram(corpus):
    return seqlm.ngram.build(corpus, order=5)


@pytest.fixture(scope="module")
def lstm(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("speech") / "lstm"
    seqlm.train(corpus, out, cell="lstm", epochs=8, threads=1, seed=1, mixture=False)
    return seqlm.load(out)


def test_word_errors_against_hand_counts():
    assert word_errors("a b c", "a b c") == 0
    assert word_errors("a b c", "a x c") == 1  # substitution
    assert word_errors("a b c", "a c") == 1  # deletion
    assert word_errors("a b", "x a b y") == 2  # insertions
    assert word_errors("", "a") == 1
    assert wer(["a b c d", "e"], ["a b", "e"]) == pytest.approx(2 / 5)


@pytest.mark.parametrize("which", ["five_gram", "lstm"])
def test_word_scores_are_the_model_sentence_scores(which, request):
    """The decoder's sum over words = alpha * ln P(sentence, <eos>) + beta * words, the
    sentence scored by the model's own text-level path."""
    model = request.getfixturevalue(which)
    lm = SeqlmLanguageModel(model, alpha=0.7, beta=0.3)
    words = "every student beside a calm baker laughs".split()
    state, total = lm.get_start_state(), 0.0
    for i, word in enumerate(words):
        score, state = lm.score(state, word, is_last_word=i == len(words) - 1)
        total += score
    reference = model.score(" ".join(words)).log_probs.sum()
    assert total == pytest.approx(0.7 * reference + 0.3 * len(words), abs=1e-4)


def test_unknown_words_and_partial_words_pay_the_offset(five_gram):
    lm = SeqlmLanguageModel(five_gram, alpha=1.0, beta=0.0, unk_score_offset=-10.0)
    start = lm.get_start_state()
    unk = five_gram.vocab.unk_id
    expected = five_gram.next_log_probs(five_gram.start())[unk] - 10.0 * math.log(10)
    assert lm.score(start, "zebra")[0] == pytest.approx(expected)
    assert lm.score_partial_token("stud") == 0.0  # "student" starts so
    assert lm.score_partial_token("zq") == -10.0


def test_ngram_states_are_their_contexts(five_gram):
    """Two histories that end alike share one state (and one cached distribution)."""
    lm = SeqlmLanguageModel(five_gram)
    a = b = lm.get_start_state()
    for word in "the old dog near a river sees".split():
        a = lm.score(a, word)[1]
    for word in "two cats near a river sees".split():
        b = lm.score(b, word)[1]
    assert a == b


def test_recurrent_prefixes_are_computed_once(lstm, monkeypatch):
    lm = SeqlmLanguageModel(lstm)
    calls = []
    original = type(lstm).next_log_probs
    monkeypatch.setattr(
        type(lstm), "next_log_probs", lambda self, s: calls.append(1) or original(self, s)
    )
    for _ in range(3):  # the decoder asks again for the same prefixes, as beams do
        state = lm.get_start_state()
        for word in "the old dog".split():
            state = lm.score(state, word)[1]
    assert len(calls) == 3


def test_language_models_lower_the_word_error_rate(corpus, five_gram, lstm):
    from pyctcdecode.alphabet import Alphabet
    from pyctcdecode.decoder import BeamSearchDecoderCTC

    labels, utterances = problem(corpus, 60)
    refs = [ref for ref, _ in utterances]

    def decode(decoder):
        return wer(refs, [decoder.decode(e, beam_width=32) for _, e in utterances])

    no_lm = decode(BeamSearchDecoderCTC(Alphabet.build_alphabet(labels)))
    with_5gram = decode(build_ctc_decoder(labels, five_gram, alpha=ALPHA, beta=BETA))
    with_lstm = decode(build_ctc_decoder(labels, lstm, alpha=ALPHA, beta=BETA))
    print(f"WER: no LM {no_lm:.3f}, 5-gram {with_5gram:.3f}, LSTM {with_lstm:.3f}")
    assert no_lm > 0.2  # the acoustics alone get many ambiguous words wrong
    assert with_5gram < no_lm / 2
    assert with_lstm < no_lm / 2
    assert np.isfinite([no_lm, with_5gram, with_lstm]).all()
