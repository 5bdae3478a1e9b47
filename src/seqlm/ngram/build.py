"""`seqlm.ngram.build`: an n-gram model of a corpus's training split, in memory."""

from __future__ import annotations

import time
from typing import Any

from seqlm.data.corpus import Corpus, load_corpus
from seqlm.data.spec import CorpusSpec
from seqlm.io import SeqlmError
from seqlm.ngram.config import NgramConfig
from seqlm.ngram.model import NgramLM
from seqlm.settings import from_dict


def build(
    corpus: Corpus | CorpusSpec | str,
    order: int | None = None,
    *,
    config: NgramConfig | None = None,
    **settings: Any,
) -> NgramLM:
    """Count and smooth (modified Kneser-Ney as KenLM by default); `.save(dir)` writes it.
    Settings are `NgramConfig`'s fields (the flags of `seqlm ngram train`), e.g.
    ``build(corpus, 5, memory="1G")``, or a finished `config`. `memory`: a byte budget
    (default a quarter of RAM) beyond which counting spills sorted runs to disk (under
    `tmp`, counted by `workers` processes), as lmplz does; `prune`: lmplz's count
    thresholds per order. The model remembers its corpus and build time, which `save`
    records."""
    if order is not None:
        settings["order"] = order
    if config is None:
        config = from_dict(NgramConfig, settings, "n-gram settings")
    elif settings:
        raise SeqlmError("pass either config or settings, not both")
    config.validate()
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus)
    start = time.perf_counter()
    model = NgramLM.train(
        corpus["train"],
        corpus.vocab,
        config.order,
        config.smoothing,
        config.k,
        memory=config.memory,
        prune=config.prune or None,
        workers=config.workers,
        workdir=config.tmp,
    )
    model.info["train_seconds"] = round(time.perf_counter() - start, 3)
    if corpus.spec is not None:
        model.info["corpus"] = corpus.spec.to_json()
    return model
