"""Word error rate: the edit distance between word sequences, over the reference's length."""

from __future__ import annotations

from collections.abc import Sequence

from seqlm.io import SeqlmError


def word_errors(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> int:
    """Substitutions + insertions + deletions that turn `hypothesis` into `reference`
    (Levenshtein distance over words; a string is split on whitespace)."""
    ref = reference.split() if isinstance(reference, str) else list(reference)
    hyp = hypothesis.split() if isinstance(hypothesis, str) else list(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i]
        for j, other in enumerate(hyp, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1]


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: all errors over all reference words (not a mean of sentence WERs)."""
    if len(references) != len(hypotheses):
        raise SeqlmError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    words = sum(len(r.split()) for r in references)
    errors = sum(word_errors(r, h) for r, h in zip(references, hypotheses, strict=True))
    return errors / max(words, 1)


__all__ = ["wer", "word_errors"]
