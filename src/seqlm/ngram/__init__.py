"""Count-based n-gram language models: KenLM-exact modified Kneser–Ney, baselines, ARPA,
a memory-mapped binary format."""

from seqlm.ngram.arpa import read_arpa, write_arpa
from seqlm.ngram.build import build
from seqlm.ngram.kenlm_api import Model
from seqlm.ngram.model import NgramLM, convert
from seqlm.ngram.smoothing import SMOOTHINGS, NgramTables

__all__ = [
    "SMOOTHINGS",
    "Model",
    "NgramLM",
    "NgramTables",
    "build",
    "convert",
    "read_arpa",
    "write_arpa",
]
