"""`seqlm.ngram.build`: an n-gram model of a corpus's training split, in memory."""

from __future__ import annotations

import math
import time

from seqlm.data.corpus import Corpus, load_corpus
from seqlm.data.spec import CorpusSpec
from seqlm.io import SeqlmError
from seqlm.ngram.model import NgramLM


def build(
    corpus: Corpus | CorpusSpec | str,
    order: int = 3,
    smoothing: str = "mkn",
    k: float = 1.0,
    memory: int | None = None,
    prune: list[int] | None = None,
    workers: int | None = None,
    workdir: str | None = None,
) -> NgramLM:
    """Count and smooth (modified Kneser-Ney as KenLM by default); `.save(dir)` writes it.
    `memory`: a byte budget (default a quarter of RAM) beyond which counting spills sorted
    runs to disk (under `workdir`, counted by `workers` processes), as lmplz does; `prune`:
    lmplz's count thresholds per order. The model
    remembers its corpus and build time, which `save` records."""
    if smoothing == "add-k" and not (math.isfinite(k) and k > 0):
        raise SeqlmError(f"add-k smoothing needs k > 0 (a finite number), got {k}")
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus)
    start = time.perf_counter()
    model = NgramLM.train(
        corpus["train"],
        corpus.vocab,
        order,
        smoothing,
        k,
        memory=memory,
        prune=prune,
        workers=workers,
        workdir=workdir,
    )
    model.info["train_seconds"] = round(time.perf_counter() - start, 3)
    if corpus.spec is not None:
        model.info["corpus"] = corpus.spec.to_json()
    return model
