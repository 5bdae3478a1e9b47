"""What a recurrent LM is made of: the one declaration of every model setting."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from itertools import pairwise

from seqlm.io import SeqlmError
from seqlm.settings import check, setting

# The one place a cell kind's name maps to its class (module:class, imported where the
# model is built, so that reading settings does not load torch): a new cell is its class
# and one line here.
CELL_CLASSES = {
    "rnn": "seqlm.nn.cells:ElmanCell",
    "lstm": "seqlm.nn.cells:LSTMCell",
    "gru": "seqlm.nn.cells:GRUCell",
    "mogrifier": "seqlm.nn.mogrifier:MogrifierCell",
    "mingru": "seqlm.nn.minimal:MinGRUCell",
    "minlstm": "seqlm.nn.minimal:MinLSTMCell",
    "slstm": "seqlm.nn.xlstm:SLSTMCell",
    "mlstm": "seqlm.nn.xlstm:MLSTMCell",
}
# Models that are not a recurrent cell but answer to `--cell` all the same (their own
# LanguageModel class, built by `seqlm.nn.build.build_model`).
MODEL_CLASSES = {"transformer": "seqlm.nn.transformer:TransformerLM"}
CELLS = (*CELL_CLASSES, *MODEL_CLASSES)
MINIMAL_CELLS = ("mingru", "minlstm")  # gates read x_t only: no hidden-to-hidden matrix
XLSTM_CELLS = ("slstm", "mlstm")  # units split into --heads
# Far beyond any model this library trains well, short of an allocation that never ends
MAX_UNITS = 65_536
MAX_LAYERS = 64


@dataclass
class ModelConfig:
    cell: str = setting("lstm", "recurrent cell", choices=CELLS, alias="model")
    vocab_size: int = setting(10_000, "vocabulary size (from the corpus)", min=1, flag=False)
    embed: int = setting(200, "embedding size", min=1, max=MAX_UNITS)
    hidden: int = setting(200, "hidden units per layer", min=1, max=MAX_UNITS)
    layers: int = setting(2, "recurrent layers", min=1, max=MAX_LAYERS)
    last_hidden: int = setting(
        0,
        "units of the last layer (0: --hidden; tied: must be 0 or --embed)",
        min=0,
        max=MAX_UNITS,
    )
    dropout: float = setting(0.0, "dropout on the last layer's output", min=0, below=1)
    dropout_embed: float = setting(0.0, "dropout on the embeddings", min=0, below=1)
    dropout_between: float = setting(0.0, "dropout between recurrent layers", min=0, below=1)
    dropout_words: float = setting(
        0.0, "embedding dropout: drop whole word types per batch (AWD-LSTM)", min=0, below=1
    )
    weight_drop: float = setting(
        0.0,
        "DropConnect on hidden-to-hidden weights, one mask per batch (AWD-LSTM)",
        min=0,
        below=1,
    )
    ar: float = setting(0.0, "activation regularisation: alpha * mean(h^2), dropped output", min=0)
    tar: float = setting(
        0.0, "temporal AR: beta * mean((h_t - h_t-1)^2) on the undropped output", min=0
    )
    variational: bool = setting(
        False, "one dropout mask per sequence, shared across time (Gal & Ghahramani)"
    )
    tied: bool = setting(False, "tie the output layer to the embedding (Inan et al.; Press & Wolf)")
    forget_bias: float = setting(1.0, "initial LSTM forget-gate bias")
    mogrifier_rounds: int = setting(
        5, "--cell mogrifier: rounds of input/state gating (Melis et al. 2020)", min=1, max=100
    )
    context: int = setting(
        256, "--cell transformer: tokens of history it attends to", min=1, max=MAX_UNITS
    )
    heads: int = setting(
        4,
        "heads: attention (--embed must divide by it) or xLSTM (each layer's units must)",
        min=1,
        max=MAX_UNITS,
    )
    adaptive_cutoffs: list[int] = setting(
        [], "adaptive softmax cluster cutoffs, e.g. 2000,6000 (default: full softmax)"
    )

    def check_cutoffs(self) -> None:
        cutoffs = self.adaptive_cutoffs
        if any(c < 1 for c in cutoffs) or any(b <= a for a, b in pairwise(cutoffs)):
            raise SeqlmError(
                "setting adaptive_cutoffs (--adaptive-cutoffs) must increase from "
                f"1 up, got {cutoffs!r}"
            )
        if cutoffs and self.tied:
            raise SeqlmError("tied embeddings and the adaptive softmax do not combine")

    def validate(self) -> None:
        check(self)
        self.check_cutoffs()
        if self.adaptive_cutoffs and self.adaptive_cutoffs[-1] >= self.vocab_size:
            raise SeqlmError(
                f"adaptive softmax cutoffs must lie inside the vocabulary "
                f"({self.vocab_size} tokens)"
            )
        if self.cell == "transformer" and self.embed % self.heads:
            raise SeqlmError(f"--embed {self.embed} does not divide into {self.heads} heads")
        if self.tied and self.last_hidden not in (0, self.embed):
            raise SeqlmError("--tied: the last layer has --embed units (leave --last-hidden 0)")
        if self.cell in XLSTM_CELLS and any(h % self.heads for h in self.layer_sizes()[1:]):
            raise SeqlmError(
                f"--cell {self.cell}: layers of {sorted(set(self.layer_sizes()[1:]))} units "
                f"do not divide into {self.heads} heads"
            )
        self.check_size()

    def parameters(self) -> int:
        """About how many weights the model has (embedding, gates, output layer)."""
        if self.cell == "transformer":  # attention 4d^2, MLP 2dh, positions, embedding
            d, blocks = self.embed, self.layers * (4 * self.embed + 2 * self.hidden + 9)
            return self.vocab_size * (d * (1 if self.tied else 2) + 1) + d * (blocks + self.context)
        gates = {"rnn": 1, "gru": 3, "mingru": 2, "minlstm": 3}.get(self.cell, 4)
        sizes = self.layer_sizes()
        # per gate and unit: W_x, W_h and two biases; the minimal RNNs have no W_h, one bias
        hh = 0 if self.cell in MINIMAL_CELLS else 1
        recurrent = sum(
            gates * (i + 1 + hh * (h + 1)) * h for i, h in zip(sizes, sizes[1:], strict=False)
        )
        if self.cell in XLSTM_CELLS:  # sLSTM: W_hh per head; mLSTM: ĩ, f̃ per head, no W_hh
            recurrent = sum(
                (4 * (i + 1 + h // self.heads + 1) * h)
                if self.cell == "slstm"
                else (4 * h + 2 * self.heads) * (i + 1)
                for i, h in zip(sizes, sizes[1:], strict=False)
            )
        return self.vocab_size * (self.embed + sizes[-1] + 1) + recurrent

    def check_size(self) -> None:
        """Refuse a model whose weights alone exceed this machine's memory, before
        allocating it (an allocation that large fails slowly, or not at all)."""
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return
        need = 4 * self.parameters()
        if need > ram:
            raise SeqlmError(
                f"a model of {self.layers} layers of {self.hidden} units (embedding "
                f"{self.embed}, {self.vocab_size} tokens) needs about {need / 2**30:,.1f} GiB "
                f"for its weights alone; this machine has {ram / 2**30:,.1f} GiB"
            )

    def layer_sizes(self) -> list[int]:
        """Input size of the first layer, then each layer's units (AWD: 400-1150-1150-400)."""
        last = self.embed if self.tied else (self.last_hidden or self.hidden)
        return [self.embed] + [self.hidden] * (self.layers - 1) + [last]

    def to_json(self) -> dict:
        return asdict(self)
