"""Small saved models for the server's tests: a 3-gram and a 2-layer LSTM (tied, so its
layers differ in size) on a small synthetic corpus, and a GRU."""

from pathlib import Path

import numpy as np
import torch
from conftest import SMALL

from seqlm.data import load_corpus
from seqlm.ngram import NgramLM
from seqlm.nn.checkpoint import save_recurrent
from seqlm.nn.config import ModelConfig
from seqlm.nn.recurrent import RecurrentLM


def make_models(folder: Path) -> dict[str, Path]:
    corpus = load_corpus(SMALL)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only contend
    try:
        return _make(folder, corpus)
    finally:
        torch.set_num_threads(threads)


def _make(folder: Path, corpus) -> dict[str, Path]:
    out = {}
    ngram = NgramLM.train(corpus["train"], corpus.vocab, 3)
    ngram.info["corpus"] = corpus.spec.to_json()
    out["3gram"] = ngram.save(folder / "3gram")
    for cell, hidden, tied in (("lstm", 24, True), ("gru", 16, False)):
        config = ModelConfig(
            cell=cell, vocab_size=len(corpus.vocab), embed=12, hidden=hidden, layers=2, tied=tied
        )
        model = RecurrentLM(config, corpus.vocab)
        model.reset_parameters(1)
        _fit(model, corpus["train"])
        out[cell] = save_recurrent(model, folder / cell, {"corpus": corpus.spec.to_json()})
    return out


def _fit(model: RecurrentLM, ids: np.ndarray, steps: int = 5) -> None:
    """A few plain gradient steps, so the models predict something (deterministic)."""
    data = torch.as_tensor(np.asarray(ids[: 8 * 41], dtype=np.int64)).view(8, 41).T
    for _ in range(steps):
        loss, _ = model.loss(data[:-1], data[1:])
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    model.eval()
