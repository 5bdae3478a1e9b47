"""The models a server holds: each loaded once at start-up, with what the API says about it.

A request names a model by the short name given here (the directory's name, made unique),
never by a path, so the set of files the server reads is fixed when it starts.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqlm.data.text import EOS
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError
from seqlm.loading import load, model_config, trained_on

log = logging.getLogger("seqlm.serve")


@dataclass
class ServedModel:
    name: str
    path: Path
    lm: LanguageModel
    config: dict
    test_perplexity: float | None = None
    test_bits_per_byte: float | None = None  # set where the test split is scored here
    computed_valid: float | None = None  # n-grams: scored once at start-up
    probes: dict | None = None  # the gates probe's cells on the corpus, found once
    _corpus: object = None
    _reference: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def kind(self) -> str:
        return self.lm.kind

    def corpus_label(self) -> str | None:
        corpus = self.config.get("corpus")
        return corpus.get("source") if isinstance(corpus, dict) else None

    def describe(self) -> dict:
        """What GET /models reports."""
        label = self.kind if self.kind != "ngram" else f"{self.lm.order}-gram"
        return {
            "name": self.name,
            "kind": self.kind,
            "label": label,
            "level": self.lm.vocab.level,
            "tokenizer": self.lm.tokenizer.name,
            "vocab_size": len(self.lm.vocab),
            "parameters": int(self.lm.num_parameters()),
            "corpus": self.corpus_label(),
            "test_perplexity": self.test_perplexity,
            "test_bits_per_byte": self.test_bits_per_byte,
            "valid_perplexity": self.valid_perplexity(),
        }

    def valid_perplexity(self) -> float | None:
        """Validation perplexity: as config.json records it (mixtures), as training
        recorded it (recurrent models), or as scored at start-up (n-grams)."""
        recorded = self.config.get("valid_perplexity")
        if isinstance(recorded, int | float):
            return float(recorded)
        if self.computed_valid is not None:
            return self.computed_valid
        try:
            progress = json.loads((self.path / "trainer.json").read_text(encoding="utf-8"))
            value = progress.get("best_valid")
            return float(value) if value is not None else None
        except (OSError, ValueError, AttributeError):
            return None

    # -- the training corpus: samples for the explorer, the pattern index --------------
    def corpus(self):
        """The corpus the model was trained on (loaded on first use), or None."""
        with self._lock:
            if self._corpus is None:
                spec = trained_on(self.path) if self.path.is_dir() else None
                if spec is None:
                    self._corpus = False
                else:
                    from seqlm.data.corpus import load_corpus

                    try:
                        self._corpus = load_corpus(spec)
                    except SeqlmError as e:
                        log.warning("%s: its corpus is not available (%s)", self.name, e)
                        self._corpus = False
            return self._corpus or None

    def corpus_ids(self, split: str) -> np.ndarray:
        """A split of the training corpus in this model's vocabulary."""
        from seqlm.evaluate import to_model_ids

        corpus = self.corpus()
        if corpus is None:
            raise SeqlmError(f"model {self.name} records no corpus that can be loaded")
        return to_model_ids(self.lm, corpus, split)

    def reference(self):
        """The LSTM (sLSTM, mLSTM) on the readable backend, whose every step's gates can be
        recorded."""
        from seqlm.probe.gates import GATED

        if self.kind not in GATED:
            raise SeqlmError(
                f"gate activations need an LSTM, sLSTM or mLSTM; {self.name} ({self.kind}) has none"
            )
        with self._lock:
            if self._reference is None:
                from seqlm.probe.gradients import reference_copy

                self._reference = reference_copy(self.lm).eval()
            return self._reference


def sample_text(model: ServedModel, split: str, tokens: int, seed: int) -> dict:
    """Whole lines of the corpus, about `tokens` long, starting at a seeded random line,
    with the synthetic corpus's dependency marks (kind, distance) for each token."""
    corpus = model.corpus()
    if corpus is None:
        raise SeqlmError(f"model {model.name} records no corpus that can be loaded")
    ids = np.asarray(corpus[split])
    eos = corpus.vocab.stoi.get(EOS, -1)
    ends = np.flatnonzero(ids == eos) if eos >= 0 else np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if len(ends) < 2:  # no line structure: any window
        start = int(rng.integers(0, max(1, len(ids) - tokens)))
        stop = min(len(ids), start + tokens)
    else:
        first = int(rng.integers(0, max(1, len(ends) - 1)))
        start = int(ends[first]) + 1
        later = ends[ends >= start + tokens - 1]
        stop = int(later[0]) + 1 if len(later) else int(ends[-1]) + 1
        stop = max(stop, start + 1)
    words = corpus.vocab.decode(ids[start:stop])
    text = corpus.vocab.tokenizer.decode(words)
    out: dict = {"text": text, "tokens": words, "split": split, "position": start, "marks": None}
    if split in corpus.marks:
        marks = corpus.marks[split]
        out["marks"] = {
            "dep_kind": marks["dep_kind"][start:stop].astype(int).tolist(),
            "dep_distance": marks["dep_distance"][start:stop].astype(int).tolist(),
        }
    return out


def load_models(paths: list[str], evaluate_test: bool = False) -> dict[str, ServedModel]:
    """Every model, under a unique short name (its directory's or file's name)."""
    models: dict[str, ServedModel] = {}
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        config = model_config(path)
        lm = load(path)
        base = path.name.split(".")[0] or "model"
        name, n = base, 2
        while name in models:
            name, n = f"{base}-{n}", n + 1
        model = models[name] = ServedModel(name, path, lm, config)
        recorded = config.get("test_perplexity")
        if isinstance(recorded, int | float):
            model.test_perplexity = float(recorded)
        elif evaluate_test or lm.kind == "ngram":  # an n-gram scores a split in moments
            model.test_perplexity = test_perplexity(model)
        if lm.kind == "ngram" and model.valid_perplexity() is None:
            model.computed_valid = test_perplexity(model, "valid")
    if not models:
        raise SeqlmError("no models to serve")
    return models


def test_perplexity(model: ServedModel, split: str = "test") -> float | None:
    """Perplexity on a split (test) of the model's own corpus, if that corpus loads."""
    from seqlm.evaluate import evaluate

    corpus = model.corpus()
    if corpus is None:
        return None
    result = evaluate(model.lm, corpus, split)
    if split == "test":
        model.test_bits_per_byte = result.bits_per_byte
    value = result.perplexity
    return None if value is None or not math.isfinite(value) else round(float(value), 3)
