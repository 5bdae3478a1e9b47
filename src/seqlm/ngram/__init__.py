"""Count-based n-gram language models: KenLM-exact modified Kneser–Ney, baselines, ARPA."""

from seqlm.ngram.arpa import read_arpa, write_arpa
from seqlm.ngram.build import build
from seqlm.ngram.model import NgramLM
from seqlm.ngram.smoothing import SMOOTHINGS, NgramTables

__all__ = ["SMOOTHINGS", "NgramLM", "NgramTables", "build", "read_arpa", "write_arpa"]
