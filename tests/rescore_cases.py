"""A synthetic n-best problem for `seqlm rescore` (tests/test_rescore.py).

Each reference sentence of the synthetic corpus comes with corrupted hypotheses of two
kinds: two neighbouring words swapped (a local error that an n-gram sees) and a verb of
the wrong number (`sleeps` for `sleep`: an agreement error, visible only to a model that
remembers the subject, which can be many words back). The first-pass scores are noise
with a small edge for the reference, so the first pass often prefers a wrong hypothesis.
"""

from __future__ import annotations

import copy

import numpy as np

from seqlm.data.synthetic import INTRANSITIVE, TRANSITIVE
from seqlm.evaluate.nbest import Utterance
from seqlm.evaluate.rescore import rescore

FLIP = {a: b for s, p in [*TRANSITIVE, *INTRANSITIVE] for a, b in ((s, p), (p, s))}


def _swap(words: list[str], rng) -> list[str] | None:
    if len(words) < 3:
        return None
    i = int(rng.integers(0, len(words) - 1))
    out = list(words)
    out[i], out[i + 1] = out[i + 1], out[i]
    return out if out != words else None


def _flip(words: list[str], rng) -> list[str] | None:
    verbs = [i for i, w in enumerate(words) if w in FLIP]
    if not verbs:
        return None
    i = verbs[int(rng.integers(0, len(verbs)))]
    return [*words[:i], FLIP[words[i]], *words[i + 1 :]]


def nbest(sentences: list[str], seed: int, edge: float = 0.5, noise: float = 1.0):
    """Utterances with the reference, two swaps and two agreement errors (where possible),
    shuffled, with first-pass scores N(0, noise) plus `edge` for the reference."""
    rng = np.random.default_rng(seed)
    out = []
    for n, ref in enumerate(sentences):
        words = ref.split()
        hyps = {ref}
        for make in (_swap, _swap, _flip, _flip):
            wrong = make(words, rng)
            if wrong is not None:
                hyps.add(" ".join(wrong))
        texts = sorted(hyps)
        rng.shuffle(texts)
        scores = rng.normal(0, noise, len(texts)) + edge * np.array([t == ref for t in texts])
        out.append(Utterance(f"utt{n}", list(texts), scores.tolist(), ref))
    return out


def rescore_each(dev, test, lstm, ngram) -> dict:
    """`rescore` with the 5-gram alone, the LSTM alone and both, each on fresh copies."""
    return {
        name: rescore(copy.deepcopy(dev), copy.deepcopy(test), models)
        for name, models in {
            "5-gram": {"5gram": ngram},
            "lstm": {"lstm": lstm},
            "both": {"lstm": lstm, "5gram": ngram},
        }.items()
    }
