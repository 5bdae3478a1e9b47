"""seqlm: n-gram, RNN, LSTM and GRU language models with one yardstick.

    import seqlm
    lm = seqlm.load("runs/ptb-lstm")           # any model directory or ARPA file
    lm.perplexity("the company said it expects higher sales")
    corpus = seqlm.load_corpus("ptb")
    result = seqlm.train(corpus, "runs/x", cell="lstm", hidden=650, max_minutes=60)
    ng = seqlm.ngram.build(corpus, order=5)    # then ng.save("runs/5gram")

`train` and `evaluate` are bound here (they share their names with modules, whose import
would otherwise replace them); the other names are imported on first use, so `import
seqlm` and the CLI's start do not load torch.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import version

__version__ = version("seqlm")

logging.getLogger("seqlm").addHandler(logging.NullHandler())  # silent unless the app asks

_EXPORTS = {
    "load": "seqlm.loading",
    "load_corpus": "seqlm.data.corpus",
    "Corpus": "seqlm.data.corpus",
    "CorpusSpec": "seqlm.data.spec",
    "TrainResult": "seqlm.train.run",
    "TrainConfig": "seqlm.train.config",
    "ModelConfig": "seqlm.nn.config",
    "EvalResult": "seqlm.evaluate",
    "LanguageModel": "seqlm.interface",
    "TokenScores": "seqlm.interface",
    "SeqlmError": "seqlm.io",
}
__all__ = [*_EXPORTS, "evaluate", "ngram", "train", "__version__"]

from seqlm.evaluate import evaluate  # noqa: E402
from seqlm.train.run import train  # noqa: E402


def __getattr__(name: str) -> object:
    if name == "ngram":  # the subpackage: importing it binds it here for good
        import seqlm.ngram

        return seqlm.ngram
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
