"""RecurrentLM: embedding -> recurrent layers -> dropout -> softmax over the vocabulary.

Options follow the papers that made these models good: tied input/output embeddings
(Inan et al. 2016; Press & Wolf 2017), dropout on embeddings, between layers and on the
output, variational (locked) dropout that reuses one mask across time (Gal & Ghahramani
2016), forget-gate bias 1 (Jozefowicz et al. 2015), an adaptive softmax for large
vocabularies (Grave et al. 2017), and AWD-LSTM's word dropout, weight drop on W_hh and
AR/TAR penalties (Merity et al. 2017; `seqlm.nn.regularize`). `--cell mogrifier` is the
Mogrifier LSTM (`seqlm.nn.mogrifier`); `--cell mingru`/`minlstm` the minimal RNNs
(`seqlm.nn.minimal`). Parameters have one canonical layout whichever backend
runs them, so a checkpoint loads into either and both start from identical weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from seqlm.data.text import EOS
from seqlm.data.vocab import Vocab
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError
from seqlm.nn.config import ModelConfig
from seqlm.nn.head import OutputHead
from seqlm.nn.inference import lowered, lowered_weights
from seqlm.nn.layers import BACKENDS, CELL_TYPES, RecurrentLayer, evaluating
from seqlm.nn.regularize import embedding_dropout, locked_dropout

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class GenerationState:
    """Hidden state after all tokens but `last`, which is read lazily (once) when needed."""

    hidden: list | None
    last: int
    cache: tuple | None = None


class RecurrentLM(nn.Module, OutputHead, LanguageModel):
    def __init__(self, config: ModelConfig, vocab: Vocab, backend: str = "fused"):
        super().__init__()
        config.validate()
        if backend not in BACKENDS:
            raise SeqlmError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        if len(vocab) != config.vocab_size:
            raise SeqlmError(f"vocabulary has {len(vocab)} tokens, the model {config.vocab_size}")
        self.config, self.vocab, self.backend, self.kind = config, vocab, backend, config.cell
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed)
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}")
        sizes, cell = c.layer_sizes(), CELL_TYPES[c.cell]
        self.state_parts = cell.state_parts  # an LSTM's: (h, c) per layer
        self.paired_state = self.state_parts > 1
        self.layers = nn.ModuleList(
            RecurrentLayer(
                cell.from_config(sizes[i], sizes[i + 1], c), c.weight_drop, backend == "fused"
            )
            for i in range(c.layers)
        )
        out = sizes[-1]
        if c.adaptive_cutoffs:
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(
                out, c.vocab_size, c.adaptive_cutoffs, div_value=4.0
            )
        else:
            self.decoder = nn.Linear(out, c.vocab_size)
            if c.tied:
                self.decoder.weight = self.embedding.weight
        self.start_token = vocab.stoi.get(EOS, vocab.stoi.get("\n", 0))
        self.generation_dtype: torch.dtype | None = None  # None: the parameters' own
        self._low_step: tuple[tuple, tuple[list, nn.Module]] | None = None

    # -- parameters ---------------------------------------------------------------------
    def canonical_state(self) -> dict[str, Tensor]:
        """Backend-independent names: what checkpoints store."""
        state = {"embedding.weight": self.embedding.weight}
        for i, layer in enumerate(self.layers):
            for name, tensor in layer.weights.items():
                state[f"layers.{i}.{name}"] = tensor
        for name, tensor in self.decoder.named_parameters():
            if not (self.config.tied and name == "weight"):
                state[f"decoder.{name}"] = tensor
        return state

    def reset_parameters(self, seed: int) -> None:
        """Deterministic initialisation, identical for both backends, drawn in checkpoint
        order: embedding and decoder matrices U(−0.1, 0.1), decoder biases 0, each cell
        its own (`RecurrentCell.reset_parameters`, biases 0, the forget gate's 1)."""
        g = torch.Generator().manual_seed(seed)

        def uniform(tensor: Tensor) -> None:
            tensor.copy_(torch.rand(tensor.shape, generator=g) * 0.2 - 0.1)

        with torch.no_grad():
            uniform(self.embedding.weight)
            for layer in self.layers:
                layer.cell.reset_parameters(g, forget_bias=self.config.forget_bias)
            for name, tensor in self.decoder.named_parameters():
                if not (self.config.tied and name == "weight"):
                    uniform(tensor) if tensor.dim() > 1 else tensor.zero_()

    # -- recurrent state: a list with one entry per layer; an LSTM's entry is (h, c) -------
    def state_sizes(self) -> list[int]:
        return [layer.cell.hidden_size for layer in self.layers]  # minGRU has no W_hh

    def initial_state(self, batch: int = 1) -> list:
        """The zero state every sequence starts from."""
        like = self.embedding.weight
        return [layer.cell.zero_state(batch, like) for layer in self.layers]

    def flatten_state(self, state: list | None) -> list[Tensor]:
        """[h_1(, c_1), h_2(, c_2), ...]: what checkpoints and exported step functions hold."""
        if state is None:
            return []
        return [t for s in state for t in (s if isinstance(s, tuple) else (s,))]

    def unflatten_state(self, flat: list[Tensor]) -> list | None:
        if not flat:
            return None
        n = self.state_parts
        if n == 1:
            return list(flat)
        return [tuple(flat[i : i + n]) for i in range(0, len(flat), n)]

    @staticmethod
    def detach_state(state: list | None) -> list | None:
        """The same state cut from the graph (the edge of a truncated-BPTT window)."""
        if state is None:
            return None
        return [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in state]

    # -- forward ------------------------------------------------------------------------
    def features(self, ids: Tensor, state=None, return_gates: bool = False):
        """ids (T, B) -> top-layer outputs (T, B, d), new state [, gates per layer]."""
        x, _, new_state, gates = self._run(ids, state, return_gates)
        return (x, new_state, gates) if return_gates else (x, new_state)

    def _run(self, ids: Tensor, state, return_gates: bool = False):
        """(dropped top output, undropped top output, new state, gates): AR reads the first,
        TAR the second."""
        c, training = self.config, self.training
        x = embedding_dropout(self.embedding.weight, ids, c.dropout_words, training)
        x = locked_dropout(x, c.dropout_embed, c.variational, training)
        state = state or [None] * len(self.layers)
        new_state, gates = [], []
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = locked_dropout(x, c.dropout_between, c.variational, training)
            if return_gates:
                x, s, g = layer(x, state[i], return_gates=True)
                gates.append(g)
            else:
                x, s = layer(x, state[i])
            new_state.append(s)
        return locked_dropout(x, c.dropout, c.variational, training), x, new_state, gates

    def loss(self, inputs: Tensor, targets: Tensor, state=None) -> tuple[Tensor, list]:
        """Mean cross-entropy (nats/token) of `targets` given `inputs`, and the new state;
        in training plus the AR/TAR penalties when they are set."""
        x, raw, state, _ = self._run(inputs, state)
        return self.head_loss(x, raw, targets), state

    def forward(self, inputs: Tensor, targets: Tensor, state=None) -> tuple[Tensor, list]:
        """The training step's loss (what DistributedDataParallel wraps)."""
        return self.loss(inputs, targets, state)

    # -- the common LanguageModel interface ---------------------------------------------
    @torch.inference_mode()
    def log_probs(
        self,
        ids: np.ndarray,
        window: int = 1024,
        streams: int = 1,
        progress: Callable[[int], object] | None = None,
    ) -> np.ndarray:
        """ln P of every token. With one stream the state is carried across the whole text
        (batch 1: exact, what `seqlm eval` reports); `streams` > 1 cuts it into that many
        contiguous pieces read side by side, each from a fresh state (pytorch/examples
        validates with 10): several times faster, the state lost at the cuts. A stream's
        first token is predicted after an `<eos>` (a stream starts at a line boundary).
        `progress` is called with the number of tokens scored after each chunk (a bar)."""
        with evaluating(self):
            out = self._log_probs(ids, window, streams, progress)
        if not out:
            return np.zeros(0)
        return torch.cat(out).T.reshape(-1)[: len(ids)].double().numpy()

    def _log_probs(self, ids, window, streams, progress) -> list[Tensor]:
        ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=self.device)
        n = len(ids_t)
        streams = max(1, min(streams, n))
        length = -(-n // streams)  # the last stream is shorter: padded, its tail dropped
        targets = ids_t.new_full((streams * length,), self.start_token)
        targets[:n] = ids_t
        targets = targets.view(streams, length).T  # (length, streams)
        inputs = torch.cat([targets.new_full((1, streams), self.start_token), targets[:-1]])
        out, state, rows = [], None, max(1, window // streams)
        for start in range(0, length, rows):
            x, state = self.features(inputs[start : start + rows], state)
            out.append(self.target_log_probs(x, targets[start : start + rows]).cpu())
            if progress is not None:
                progress(min(n - start * streams, out[-1].numel()))
        return out

    @torch.inference_mode()
    def start(self, prompt: np.ndarray | None = None) -> GenerationState:
        tokens = [self.start_token] + ([] if prompt is None else np.asarray(prompt).tolist())
        ids = torch.tensor(tokens[:-1], device=self.device, dtype=torch.long)[:, None]
        with evaluating(self):
            hidden = self.features(ids)[1] if len(ids) else None
        return GenerationState(hidden, tokens[-1])

    def set_generation_precision(self, precision: str) -> None:
        """'fp32': generation computes exactly what scoring does; 'bf16': its matrix
        products read bf16 weights (see `seqlm.nn.inference`), ~2.5x the tokens/s of the
        2x650 LSTM on a CPU, log-probabilities within a few hundredths of a nat."""
        if precision not in PRECISIONS:
            raise SeqlmError(f"unknown precision {precision!r} (choose from fp32, bf16)")
        self.generation_dtype = PRECISIONS[precision]

    def _low_precision_copy(self) -> tuple[list, nn.Module]:
        """Each layer's weights and the decoder with their matrices in the generation
        dtype, rebuilt whenever a parameter has changed since they were made."""
        dtype = self.generation_dtype
        key = (dtype, self.device, *(p._version for p in self.parameters()))
        if self._low_step is None or self._low_step[0] != key:
            layers = [lowered_weights(layer.weights, dtype) for layer in self.layers]
            self._low_step = (key, (layers, lowered(self.decoder, dtype)))
        return self._low_step[1]

    def _low_precision_step(self, token: int, state: list | None) -> tuple[list, Tensor]:
        """The reference step on the low-precision copies (see `seqlm.nn.inference`)."""
        layers, decoder = self._low_precision_copy()
        x = self.embedding.weight[token][None, None]  # (1, 1, embed)
        state = state or self.initial_state(1)
        new_state = []
        for layer, weights, s in zip(self.layers, layers, state, strict=True):
            x, s = layer.reference(x, s, weights=weights)
            new_state.append(s)
        return new_state, self.log_softmax(x, decoder)[0, 0]

    @torch.inference_mode()
    def _step(self, state: GenerationState) -> tuple[list, np.ndarray]:
        if state.cache is not None:  # the pending token is read once, for both methods below
            return state.cache
        with evaluating(self):
            if self.generation_dtype is not None:
                hidden, log_probs = self._low_precision_step(state.last, state.hidden)
            else:
                ids = torch.tensor([[state.last]], device=self.device)
                x, hidden = self.features(ids, state.hidden)
                log_probs = self.log_softmax(x)[0, 0]
        state.cache = (hidden, log_probs.double().cpu().numpy())
        return state.cache

    def next_log_probs(self, state: GenerationState) -> np.ndarray:
        return self._step(state)[1]

    @torch.inference_mode()
    def context_state(self, window: np.ndarray) -> GenerationState:
        window = np.asarray(window, dtype=np.int64)
        if len(window) == 0:
            return self.start()
        ids = torch.as_tensor(window[:-1], device=self.device)[:, None]
        with evaluating(self):
            hidden = self.features(ids)[1] if len(ids) else None
        return GenerationState(hidden, int(window[-1]))

    @torch.inference_mode()
    def score_windows(
        self,
        windows: list[np.ndarray],
        targets: np.ndarray,
        chunk: int = 256,
        prefix: np.ndarray | None = None,
    ) -> np.ndarray:
        """ln P(target | window) for equally long windows, batched. Each window starts from
        the all-zero state, or, given `prefix`, from the state after reading the prefix (a
        state like those seen in training, where the zero state occurs once per epoch)."""
        with evaluating(self):
            return self._score_windows(windows, targets, chunk, prefix)

    def _score_windows(self, windows, targets, chunk, prefix) -> np.ndarray:
        start = None
        if prefix is not None and len(prefix):
            ids = np.concatenate([[self.start_token], np.asarray(prefix)])
            start = self.features(torch.as_tensor(ids, device=self.device)[:, None])[1]
        out = []
        for i in range(0, len(windows), chunk):
            ids = torch.as_tensor(np.stack(windows[i : i + chunk]).T, device=self.device)
            state = None
            if start is not None:
                state = self.unflatten_state(
                    [
                        t.expand(ids.shape[1], *t.shape[1:]).contiguous()
                        for t in self.flatten_state(start)
                    ]
                )
            x, _ = self.features(ids, state)
            lp = self.log_softmax(x[-1:])[0]
            tgt = torch.as_tensor(np.asarray(targets[i : i + chunk]), device=self.device)
            out.append(lp.gather(1, tgt[:, None])[:, 0].double().cpu().numpy())
        return np.concatenate(out)

    def advance(self, state: GenerationState, token: int) -> GenerationState:
        return GenerationState(self._step(state)[0], int(token))

    def gates(self, ids: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Per layer, every step's gate activations, cell state and hidden state (T, H)."""
        if self.backend != "reference":
            raise SeqlmError("gate activations need the reference backend")
        with torch.inference_mode(), evaluating(self):
            ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=self.device)
            _, _, gates = self.features(ids_t[:, None], return_gates=True)
        return [{k: v[:, 0].float().cpu().numpy() for k, v in g.items()} for g in gates]
