"""Any seqlm model as the language model of `pyctcdecode`'s CTC beam search.

pyctcdecode (the `speech` extra) decodes a CTC acoustic model's frames (wav2vec 2.0,
Conformer, ...) with a word-level language model behind its `AbstractLanguageModel`;
`SeqlmLanguageModel` puts an n-gram or a recurrent model there. Each completed word adds
`alpha * ln P(word | words before) + beta`, as pyctcdecode's KenLM wrapper does (it turns
KenLM's log10 into natural logs; seqlm's are natural already). A word the model does not
know, and a partial word that no known word starts with, also get `unk_score_offset`
(log10 units, as in pyctcdecode).

The decoder asks for the same prefixes many times (once per beam that holds them, once
more when the utterance ends), so each state's next-token distribution is computed once
and kept (`cache_size` of them, least recently used dropped). A state is a hashable key:
an n-gram's context ids (equal contexts share one entry, whatever came before them), a
recurrent model's whole prefix of ids (its hidden state is kept beside it).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

import numpy as np

from seqlm.data.text import EOS, UNK
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError

_quiet = logging.getLogger("pyctcdecode.language_model")
_level = _quiet.level
_quiet.setLevel(logging.ERROR)  # its import warns that `kenlm` is absent: not needed here
try:
    from pyctcdecode.alphabet import Alphabet, verify_alphabet_coverage
    from pyctcdecode.constants import (
        AVG_TOKEN_LEN,
        DEFAULT_ALPHA,
        DEFAULT_BETA,
        DEFAULT_UNK_LOGP_OFFSET,
    )
    from pyctcdecode.decoder import BeamSearchDecoderCTC
    from pyctcdecode.language_model import AbstractLanguageModel
    from pygtrie import CharTrie
except ImportError as e:  # pragma: no cover - the extra is installed in CI
    raise SeqlmError(
        "speech decoding needs pyctcdecode: pip install --no-deps 'pyctcdecode>=0.5' "
        f"'pygtrie>=2.1' ({e})"
    ) from None
finally:
    _quiet.setLevel(_level)

LN10 = math.log(10)
UNBOUNDED_ORDER = 10**6  # a recurrent model's context: no beam may be merged on history


class SeqlmLanguageModel(AbstractLanguageModel):
    """pyctcdecode's language model interface over a seqlm model (n-gram or recurrent)."""

    def __init__(
        self,
        model: LanguageModel,
        unigrams: Collection[str] | None = None,
        alpha: float = DEFAULT_ALPHA,
        beta: float = DEFAULT_BETA,
        unk_score_offset: float = DEFAULT_UNK_LOGP_OFFSET,
        score_boundary: bool = True,
        cache_size: int = 4096,
    ) -> None:
        """`unigrams`: the words the decoder may spell (default, for a word-level model:
        its vocabulary); `score_boundary`: start each utterance at a sentence start and
        score its end (`<eos>`), as KenLM's wrapper does by default."""
        if not isinstance(model, LanguageModel):
            raise SeqlmError(f"expected a seqlm language model, got {type(model).__name__}")
        self.model = model
        self.alpha, self.beta = float(alpha), float(beta)
        self.unk_score_offset = float(unk_score_offset)
        self.score_boundary = bool(score_boundary)
        self.cache_size = int(cache_size)
        vocab = model.vocab
        self._word_level = vocab.level == "word"
        self._ngram = model.kind == "ngram"
        if unigrams is None and self._word_level:
            unigrams = [t for t in vocab.tokens if t not in (UNK, EOS) and not t.isspace()]
        words = {w for w in (unigrams or ()) if w.strip()}
        if self._word_level:  # as pyctcdecode does with KenLM: only words the model knows
            words = {w for w in words if w in vocab.stoi}
        self._unigrams = words
        self._trie = CharTrie.fromkeys(sorted(words, key=len)) if words else None
        self._eos = vocab.stoi.get(EOS, vocab.sentence_end())
        self._word_ids: dict[tuple[str, bool], list[int]] = {}
        self._log_probs: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._states: OrderedDict[Any, Any] = OrderedDict()  # recurrent: key -> hidden state

    # -- pyctcdecode's interface --------------------------------------------------------
    @property
    def order(self) -> int:
        """Words of history that matter (pyctcdecode merges beams on them when asked to)."""
        if self._ngram and self._word_level:
            return int(self.model.order)
        return UNBOUNDED_ORDER

    def get_start_state(self) -> Any:
        if self._ngram:
            start = self.model.start() if self.score_boundary else self.model.context_state([])
            return ("ngram", start)
        return ()

    def score_partial_token(self, partial_token: str) -> float:
        """The KenLM wrapper's penalty for a word part no known word starts with."""
        unknown = self._trie is None or not self._trie.has_node(partial_token)
        score = self.unk_score_offset * unknown
        if len(partial_token) > AVG_TOKEN_LEN:
            score = score * len(partial_token) / AVG_TOKEN_LEN
        return score

    def score(self, prev_state: Any, word: str, is_last_word: bool = False) -> tuple[float, Any]:
        """(alpha * ln P(word [, <eos>] | state) + beta, the state after `word`)."""
        state, log_prob = prev_state, 0.0
        for token in self._ids(word, first=self._is_start(prev_state)):
            log_prob += float(self._next(state)[token])
            state = self._advance(state, token)
        if self._unknown(word):
            log_prob += self.unk_score_offset * LN10
        if is_last_word and self.score_boundary and self._eos >= 0:
            log_prob += float(self._next(state)[self._eos])
        return self.alpha * log_prob + self.beta, state

    def reset_params(self, **params: Any) -> None:
        """Change alpha, beta, unk_score_offset or score_boundary (what the decoder's
        `reset_params` passes on) without rebuilding anything."""
        for name in ("alpha", "beta", "unk_score_offset"):
            if params.get(name) is not None:
                setattr(self, name, float(params[name]))
        if params.get("score_boundary") is not None:
            self.score_boundary = bool(params["score_boundary"])

    # -- states and their cached distributions ------------------------------------------
    def _is_start(self, state: Any) -> bool:
        return state == () or (self._ngram and state == self.get_start_state())

    def _ids(self, word: str, first: bool) -> list[int]:
        """The model's token ids for `word` (words: one id; characters and subwords: the
        pieces, with the space that separates it from the word before)."""
        key = (word, first or self._word_level)
        if key not in self._word_ids:
            text = word if key[1] else " " + word
            tokens = self.model.tokenizer.encode_line(text)
            self._word_ids[key] = [int(i) for i in self.model.vocab.encode(tokens)]
        return self._word_ids[key]

    def _unknown(self, word: str) -> bool:
        if self._word_level and word not in self.model.vocab.stoi:
            return True
        return bool(self._unigrams) and word not in self._unigrams

    def _advance(self, state: Any, token: int) -> Any:
        if self._ngram:
            return ("ngram", self.model.advance(state[1], token))
        return (*state, token)

    def _next(self, state: Any) -> np.ndarray:
        """ln P(next token | state), computed once per state while it stays cached."""
        cached = self._log_probs.get(state)
        if cached is not None:
            self._log_probs.move_to_end(state)
            return cached
        if self._ngram:
            result = self.model.next_log_probs(state[1])
        else:
            result = self.model.next_log_probs(self._hidden(state))
        self._remember(self._log_probs, state, np.asarray(result, dtype=np.float64))
        return result

    def _hidden(self, state: tuple[int, ...]) -> Any:
        """The recurrent state after `state`'s ids: one step from its parent's when cached."""
        found = self._states.get(state)
        if found is not None:
            return found
        parent = self._states.get(state[:-1]) if state else None
        if parent is not None:
            found = self.model.advance(parent, state[-1])
        else:
            found = self.model.start(np.asarray(state, dtype=np.int64))
        self._remember(self._states, state, found)
        return found

    def _remember(self, cache: OrderedDict, key: Any, value: Any) -> None:
        cache[key] = value
        if len(cache) > self.cache_size:
            cache.popitem(last=False)


def build_ctc_decoder(
    labels: list[str],
    model: LanguageModel,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    unigrams: Collection[str] | None = None,
    unk_score_offset: float = DEFAULT_UNK_LOGP_OFFSET,
    score_boundary: bool = True,
) -> BeamSearchDecoderCTC:
    """pyctcdecode's beam-search decoder for `labels` (the acoustic model's outputs, the
    CTC blank as ""), with `model` as its language model: what `build_ctcdecoder` builds
    around a KenLM file."""
    alphabet = Alphabet.build_alphabet(list(labels))
    lm = SeqlmLanguageModel(model, unigrams, alpha, beta, unk_score_offset, score_boundary)
    if lm._unigrams:
        verify_alphabet_coverage(alphabet, list(lm._unigrams))
    return BeamSearchDecoderCTC(alphabet, lm)


__all__ = ["SeqlmLanguageModel", "build_ctc_decoder"]
