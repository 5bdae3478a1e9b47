"""Loading any saved model by what its directory (or file) says it is."""

from __future__ import annotations

from pathlib import Path

from seqlm.data.spec import CorpusSpec
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError
from seqlm.modeldir import read_config


def model_config(path: str | Path) -> dict:
    """config.json of a model directory (current layout); an ARPA file has none."""
    path = Path(path)
    if not path.exists():
        raise SeqlmError(f"{path}: no such model directory or file")
    if path.is_file():
        return {"kind": "ngram", "arpa": True}
    return read_config(path)


def trained_on(path: str | Path) -> CorpusSpec | None:
    """The corpus a saved model was trained on, if it records one."""
    corpus = model_config(path).get("corpus")
    return CorpusSpec.from_json(corpus).located(path) if isinstance(corpus, dict) else None


def load(path: str | Path, device: str | None = None, verify: bool = False) -> LanguageModel:
    """A model directory written by seqlm (n-gram, recurrent, or a mixture of the two),
    or an ARPA file (`.arpa`, `.arpa.gz`) from any toolkit. A directory's files are checked
    against its manifest (`seqlm.manifest`: sizes, small files' digests; every digest
    with `verify`) and for the invariants of its kind; a corrupt one is refused."""
    config = model_config(path)
    if config["kind"] == "mixture":  # two saved models inside it, mixed with a weight
        from seqlm.evaluate.interpolate import load_mixture

        return load_mixture(Path(path), config, lambda part: load(part, device, verify))
    if config["kind"] == "ngram":
        from seqlm.ngram import NgramLM

        return NgramLM.from_arpa(path) if config.get("arpa") else NgramLM.load(path, verify=verify)
    from seqlm.nn.checkpoint import load_recurrent

    return load_recurrent(path, device=device, verify=verify)


load_model = load  # the name the library used before the public API
