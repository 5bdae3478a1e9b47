"""Text -> tokens -> ids: tokenizers, the vocabulary, corpora and TBPTT batching."""

from seqlm.data.corpus import SPLITS, Corpus, load_corpus
from seqlm.data.text import EOS, UNK, detokenize, tokenize
from seqlm.data.vocab import Vocab

__all__ = [
    "EOS",
    "SPLITS",
    "UNK",
    "Corpus",
    "Vocab",
    "detokenize",
    "load_corpus",
    "tokenize",
]
