"""A small CTC problem for the speech decoder (tests/test_speech.py, bench/speech.py).

Utterances are sentences of the synthetic corpus turned into emission matrices: a frame
per character (a blank after each), log-softmax over the labels with the CTC blank "".
Some frames are ambiguous, two labels nearly equal with a random one ahead, so that the
acoustics alone get those words wrong about half the time:
- a word's number: the final "s" of `sleeps`/`dogs` against a blank (`sleep`/`dog`),
  decided by agreement with a subject that can be far back;
- vowels: a/e, o/u, i/e (`man`/`men`, `woman`/`women`, or a word that does not exist).
Only a language model trained on the corpus can tell which spelling was said.
"""

from __future__ import annotations

import numpy as np

from seqlm.data.text import EOS

BLANK = ""
VOWELS = {"a": "e", "e": "a", "o": "u", "u": "o", "i": "e"}


def sentences(corpus, split: str, count: int, max_words: int = 14) -> list[str]:
    """The first `count` lines of a split with at most `max_words` words."""
    out, line = [], []
    for token in corpus.vocab.decode(corpus[split]):
        if token != EOS:
            line.append(token)
            continue
        if 0 < len(line) <= max_words:
            out.append(" ".join(line))
        line = []
        if len(out) == count:
            break
    return out


def labels_for(words) -> list[str]:
    return [BLANK, " ", *sorted({c for w in words for c in w})]


def emissions(
    sentence: str,
    labels: list[str],
    words: set[str],
    rng: np.random.Generator,
    vowel_rate: float = 0.25,
    sharp: float = 9.0,
    tie_noise: float = 0.4,
) -> np.ndarray:
    """(frames, labels) log-probabilities for `sentence`, ambiguous as described above."""
    index = {c: i for i, c in enumerate(labels)}
    frames: list[tuple[str, str | None]] = []  # (said, its acoustic twin or None)
    for n, word in enumerate(sentence.split()):
        if n:
            frames += [(" ", None), (BLANK, None)]
        plural_s = word.endswith("s") and word[:-1] in words
        for k, char in enumerate(word):
            if plural_s and k == len(word) - 1:
                frames.append((char, BLANK))
            elif char in VOWELS and rng.random() < vowel_rate:
                frames.append((char, VOWELS[char]))
            else:
                frames.append((char, None))
            frames.append((BLANK, None))
        if word + "s" in words:  # said without the "s", which it might have had
            frames += [(BLANK, "s"), (BLANK, None)]
    logits = rng.normal(0.0, 1.0, (len(frames), len(labels)))
    for t, (said, twin) in enumerate(frames):
        if twin is None:
            logits[t, index[said]] += sharp
        else:
            logits[t, index[said]] += sharp + rng.normal(0, tie_noise) - logits[t, index[said]]
            logits[t, index[twin]] += sharp + rng.normal(0, tie_noise) - logits[t, index[twin]]
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def problem(corpus, count: int, seed: int = 0):
    """(labels, [(reference, emissions)]) for `count` test sentences of `corpus`."""
    words = {t for t in corpus.vocab.tokens if t.isprintable() and not t.startswith("<")}
    labels = labels_for(words)
    rng = np.random.default_rng(seed)
    refs = sentences(corpus, "test", count)
    return labels, [(r, emissions(r, labels, words, rng)) for r in refs]
