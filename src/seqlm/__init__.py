"""seqlm: n-gram, RNN, LSTM and GRU language models with one yardstick."""

__version__ = "0.1.0"
