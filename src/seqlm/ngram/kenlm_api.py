"""A `kenlm`-compatible Python API, so scripts written for KenLM's module run unchanged:

    import seqlm.ngram as kenlm
    model = kenlm.Model("lm.arpa")          # or a seqlm model directory
    model.score("this is a sentence", bos=True, eos=True)   # log10 P, </s> included
    for log10p, length, oov in model.full_scores("this is a sentence"): ...
    model.perplexity("this is a sentence"), model.order, "word" in model

Words are split on whitespace; a word the model does not know is its `<unk>` (flagged
OOV), as in KenLM. Scores come from the same code as `NgramLM.log10_probs`: the compiled
kernels of `fast.py` when Numba is installed (one call per sentence; an ASCII sentence is
also split and looked up compiled, `fast_words.py`), else NumPy. With Numba, `Model(...)`
builds the model's hash tables at once, as KenLM loads its model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import repeat
from pathlib import Path

import numpy as np

from seqlm.data.text import EOS
from seqlm.io import SeqlmError
from seqlm.ngram import fast, fast_words
from seqlm.ngram.arpa import BOS
from seqlm.ngram.arpa import EOS as ARPA_EOS
from seqlm.ngram.model import NgramLM


class Model:
    """KenLM's `kenlm.Model` over a seqlm n-gram: an ARPA file or a model directory."""

    def __init__(self, path: str | os.PathLike, config: object = None):
        path = Path(path)
        if not path.exists():
            raise SeqlmError(f"{path}: no such model directory or ARPA file")
        self.path = str(path)
        self.lm = NgramLM.load(path) if path.is_dir() else NgramLM.from_arpa(path)
        if self.lm.eos < 0:
            raise SeqlmError(f"{path}: a character-level model has no sentences to score")
        self._ids = dict(self.lm.vocab.stoi)
        self._ids[ARPA_EOS] = self._ids.pop(EOS, self.lm.eos)
        self._ids[BOS] = self.lm.bos
        self._unk_id = self.lm.vocab.unk_id
        self._unk = repeat(self._unk_id)  # map(dict.get, words, repeat(unk)): C-level lookups
        self._tables = self.lm.tables
        # `score`: an ASCII sentence is split, looked up and scored in one compiled call
        # (kenlm's own `score` costs about 4 us a sentence: each Python step counts)
        self._lexicon = (
            fast_words.Lexicon(self._ids, self._unk_id, self._tables, self.lm.eos)
            if fast.USE
            else None
        )
        self._pack = self._lexicon.pack if self._lexicon else None
        self._text = self._lexicon.kernel if self._lexicon else None
        if self._text is not None:  # no attribute or global lookups between call and kernel
            self.score = _compiled_score(self._text, self._pack, self._score)

    def _eos(self, eos: bool) -> int:
        return self.lm.eos if eos else -1

    @property
    def order(self) -> int:
        return self.lm.order

    def __contains__(self, word: str) -> bool:
        """As kenlm: False for words that score as `<unk>`, `<unk>` itself included."""
        return self._ids.get(word, self.lm.vocab.unk_id) != self.lm.vocab.unk_id

    def __repr__(self) -> str:
        return f"<seqlm.ngram.Model from {self.path!r}>"

    def _words(self, sentence: str) -> np.ndarray:
        words = sentence.split()
        return np.fromiter(map(self._ids.get, words, self._unk), np.int64, len(words))

    def _scores(self, sentence: str, bos: bool, eos: bool):
        words = self._words(sentence)
        oov = np.append(words == self._unk_id, [False] * eos)
        if fast.enabled():  # compiled, one call (fast.py): the same numbers
            _, log10p, length = fast.sentence(self._tables, words, bos, self._eos(eos), True)
            return log10p, length, oov
        ids = np.append(words, [self.lm.eos] * eos).astype(np.int64)
        n = len(ids)
        if bos:  # <s> first: the first word's history is `<s>`
            tokens = np.concatenate([[self.lm.bos], ids])
            position = np.arange(-1, n)
            targets = np.arange(1, n + 1)
        else:  # no history at all for the first word (KenLM's NullContextState)
            tokens, position, targets = ids, np.arange(-1, n - 1), np.arange(n)
        log10p, length = self.lm.score_positions(tokens, position, targets)
        return log10p, length, oov

    def score(self, sentence: str, bos: bool = True, eos: bool = True) -> float:
        """log10 P(sentence), `</s>` included when `eos`."""
        return self._score(sentence, bos, eos)

    def _score(self, sentence: str, bos: bool, eos: bool) -> float:
        if not isinstance(sentence, str):
            if not isinstance(sentence, bytes):
                raise TypeError(f"a sentence is a str, not {type(sentence).__name__}")
            sentence = sentence.decode()
        sentence = str(sentence)  # a subclass (numpy's str_): the kernel takes str itself
        if fast.USE:
            if sentence.isascii() and self._text:  # split as str.split does, compiled
                return self._text(sentence, self._pack, eos, bos)
            return fast.total(self._tables, self._words(sentence), bos, self._eos(eos))
        return float(self._scores(sentence, bos, eos)[0].sum())

    def perplexity(self, sentence: str) -> float:
        """10^(-log10 P / tokens), `</s>` counted (KenLM's definition)."""
        log10p = self._scores(sentence, True, True)[0]
        return float(10.0 ** (-log10p.sum() / len(log10p)))

    def full_scores(
        self, sentence: str, bos: bool = True, eos: bool = True
    ) -> Iterator[tuple[float, int, bool]]:
        """(log10 p, length of the n-gram used, OOV) for every word, then `</s>`."""
        log10p, length, oov = self._scores(sentence, bos, eos)
        yield from zip(log10p.tolist(), length.tolist(), oov.tolist(), strict=True)


def _compiled_score(kernel, pack: np.ndarray, other):
    """`Model.score` for a model with the compiled sentence kernel: a sentence goes
    straight to it (an ASCII one is split as `str.split` does, looked up and scored in one
    call, reading the str's own bytes), one it returns NaN for (not ASCII) to `other`."""

    def score(sentence: str, bos: bool = True, eos: bool = True) -> float:
        if sentence.__class__ is str:  # the kernel reads a str's memory: nothing else
            total = kernel(sentence, pack, eos, bos)
            if total == total:
                return total
        return other(sentence, bos, eos)

    score.__doc__ = Model.score.__doc__
    return score
