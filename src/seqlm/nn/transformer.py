"""TransformerLM (`--cell transformer`): a decoder-only Transformer, RecurrentLM's sibling.

GPT-2's shape (Radford et al. 2019): token embedding plus a learned position embedding,
`layers` pre-LayerNorm blocks of causal self-attention and a GELU MLP (`--hidden` units),
a final LayerNorm, and the decoder (tied to the embedding with `--tied`; an adaptive
softmax with `--adaptive-cutoffs`). Learned positions bound what one pass reads to
`--context` tokens, so everything longer is read in strided windows (`window_starts`):
window k starts at k·s with the stride s = context // 2, and a token is scored by the
first window that holds it with at least context − s tokens before it. Every token thus has
between context − s + 1 and context tokens of history (the first `context` all theirs),
training, scoring and generation alike. Training carries no state across truncated-BPTT
windows: each window of `--bptt` tokens is its own context.
Regularisers: word dropout and `--dropout-embed` on the embeddings, `--dropout-between`
on the attention weights and on each block's residual branches, `--dropout` on the output
(one mask per sequence with `--variational`), AR/TAR on the output; weight drop acts on a
recurrent W_hh and has no counterpart here (it is ignored).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlm.data.text import EOS
from seqlm.data.vocab import Vocab
from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError
from seqlm.nn.config import ModelConfig
from seqlm.nn.head import OutputHead
from seqlm.nn.layers import BACKENDS, evaluating
from seqlm.nn.regularize import embedding_dropout

log = logging.getLogger(__name__)
Cache = list[tuple[Tensor, Tensor]]  # per block: keys, values (B, heads, S, head size)


def window_starts(n: int, context: int, stride: int) -> tuple[int, int]:
    """(windows, padded length) that cover n positions: window k reads [k·s, k·s + context)
    and scores its last s positions (the first window: all of them)."""
    if n <= context:
        return 1, n
    windows = 1 + -(-(n - context) // stride)
    return windows, context + (windows - 1) * stride


class Block(nn.Module):
    """One pre-LayerNorm block on the residual stream x (B, T, d), h heads of size d/h:

        a = LN₁(x);  q, k, v = a·W_qkv + b_qkv             (queries, keys, values)
        A = softmax(q·kᵀ / √(d/h) + causal mask)           (attention weights, per head)
        x ← x + (A·v)·W_o + b_o                            (heads concatenated)
        x ← x + GELU(LN₂(x)·W₁ + b₁)·W₂ + b₂               (the MLP, --hidden units)

    The mask lets position t attend to positions ≤ t; `cache` holds the keys and values
    of earlier positions (generation), which every new position may attend to."""

    def __init__(self, d: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn_in, self.attn_out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None):
        b, t, d = x.shape
        p = self.dropout if self.training else 0.0
        q, k, v = (
            z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
            for z in self.attn_in(self.norm1(x)).split(d, dim=-1)
        )
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        earlier = k.shape[2] - t
        mask, causal = None, bool(t > 1 and earlier == 0)
        if t > 1 and earlier:  # new position i sees the cache and new positions ≤ i
            mask = torch.ones(t, earlier + t, dtype=torch.bool, device=x.device).tril(earlier)
        heads = F.scaled_dot_product_attention(q, k, v, mask, p, is_causal=causal)
        x = x + F.dropout(self.attn_out(heads.transpose(1, 2).reshape(b, t, d)), p, self.training)
        mlp = self.fc2(F.dropout(F.gelu(self.fc1(self.norm2(x))), p, self.training))
        return x + F.dropout(mlp, p, self.training), (k, v)


@dataclass
class AttentionState:
    """Generation: the keys/values of `window` (tokens `offset`.. of the text read), and
    `last`, the token read next; `result` caches its step."""

    offset: int
    window: list[int]
    cache: Cache | None
    last: int
    result: tuple | None = field(default=None, repr=False)


class TransformerLM(nn.Module, OutputHead, LanguageModel):
    state_parts = 2  # keys and values per block

    def __init__(self, config: ModelConfig, vocab: Vocab, backend: str = "fused"):
        super().__init__()
        config.validate()
        if backend not in BACKENDS:
            raise SeqlmError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        if len(vocab) != config.vocab_size:
            raise SeqlmError(f"vocabulary has {len(vocab)} tokens, the model {config.vocab_size}")
        self.config, self.vocab, self.backend, self.kind = config, vocab, backend, config.cell
        c, d = config, config.embed
        if c.weight_drop:
            log.warning("--weight-drop acts on a recurrent W_hh; the Transformer ignores it")
        self.context, self.stride = c.context, max(1, c.context // 2)
        self.embedding = nn.Embedding(c.vocab_size, d)
        self.position_embedding = nn.Embedding(c.context, d)
        self.blocks = nn.ModuleList(
            Block(d, c.heads, c.hidden, c.dropout_between) for _ in range(c.layers)
        )
        self.norm = nn.LayerNorm(d)
        if c.adaptive_cutoffs:
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(
                d, c.vocab_size, c.adaptive_cutoffs, div_value=4.0
            )
        else:
            self.decoder = nn.Linear(d, c.vocab_size)
            if c.tied:
                self.decoder.weight = self.embedding.weight
        self.start_token = vocab.stoi.get(EOS, vocab.stoi.get("\n", 0))

    # -- parameters ---------------------------------------------------------------------
    def canonical_state(self) -> dict[str, Tensor]:
        """Every parameter once by its module name (a tied decoder is the embedding)."""
        return dict(self.named_parameters())

    def reset_parameters(self, seed: int) -> None:
        """GPT-2's initialisation, drawn in checkpoint order: matrices N(0, 0.02²), the
        residual branches' output matrices scaled by 1/√(2·layers) (the stream's variance
        then stays put with depth), biases 0, LayerNorm gains 1."""
        g = torch.Generator().manual_seed(seed)
        deep = 0.02 / math.sqrt(2 * len(self.blocks))
        with torch.no_grad():
            for name, p in self.canonical_state().items():
                if "norm" in name and name.endswith("weight"):
                    p.fill_(1.0)
                elif p.dim() < 2:
                    p.zero_()
                else:
                    std = deep if name.endswith(("attn_out.weight", "fc2.weight")) else 0.02
                    p.copy_(torch.randn(p.shape, generator=g) * std)

    # -- state: none across training windows; generation's keys/values ------------------
    def initial_state(self, batch: int = 1) -> None:
        return None

    def flatten_state(self, state: Cache | None) -> list[Tensor]:
        return [] if state is None else [t for kv in state for t in kv]

    def unflatten_state(self, flat: list[Tensor]) -> Cache | None:
        return [tuple(flat[i : i + 2]) for i in range(0, len(flat), 2)] or None

    @staticmethod
    def detach_state(state: Cache | None) -> Cache | None:
        return None if state is None else [(k.detach(), v.detach()) for k, v in state]

    # -- forward ------------------------------------------------------------------------
    def _dropout(self, x: Tensor, p: float) -> Tensor:
        """x (B, T, d); --variational: one mask per sequence, shared across positions."""
        if not self.training or p == 0:
            return x
        if not self.config.variational:
            return F.dropout(x, p, training=True)
        return x * x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p) / (1 - p)

    def _run(self, ids: Tensor, cache: Cache | None = None):
        """ids (B, T), T + cached ≤ context -> (dropped output, output) (B, T, d), cache."""
        c, earlier = self.config, 0 if cache is None else cache[0][0].shape[2]
        if earlier + ids.shape[1] > self.context:
            raise ValueError(f"{earlier + ids.shape[1]} positions, the context {self.context}")
        x = embedding_dropout(self.embedding.weight, ids, c.dropout_words, self.training)
        positions = torch.arange(earlier, earlier + ids.shape[1], device=ids.device)
        x = self._dropout(x + self.position_embedding(positions), c.dropout_embed)
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new.append(kv)
        x = self.norm(x)
        return self._dropout(x, c.dropout), x, new

    def _strided(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """ids (B, T) of any length -> (dropped, undropped) outputs (B, T, d), each position
        read in its strided window (module docstring); one batch of all windows."""
        b, t = ids.shape
        n, s = self.context, self.stride
        windows, padded = window_starts(t, n, s)
        if windows == 1:
            return self._run(ids)[:2]
        ids = torch.cat([ids, ids.new_full((b, padded - t), self.start_token)], dim=1)
        outs = self._run(ids.unfold(1, n, s).reshape(b * windows, n))[:2]
        return tuple(self._scored(x.view(b, windows, n, -1))[:, :t] for x in outs)

    def _scored(self, x: Tensor) -> Tensor:
        """(B, windows, context, ...) -> (B, positions, ...): each window's scored part."""
        rest = x[:, 1:, self.context - self.stride :].flatten(1, 2)
        return torch.cat([x[:, 0], rest], dim=1)

    def features(self, ids: Tensor, state: Cache | None = None, return_gates: bool = False):
        """ids (T, B) -> outputs (T, B, d), new keys/values. Without `state`, any T (read in
        strided windows past the context; no keys/values then); with it, T + cached ≤
        context."""
        if return_gates:
            raise SeqlmError(f"gate activations need an LSTM; this model is a {self.kind}")
        if state is None and ids.shape[0] > self.context:
            return self._strided(ids.T)[0].transpose(0, 1), None
        x, _, cache = self._run(ids.T, state)
        return x.transpose(0, 1), cache

    def loss(self, inputs: Tensor, targets: Tensor, state=None) -> tuple[Tensor, None]:
        """Mean cross-entropy (nats/token) of `targets` (T, B) given `inputs`, plus AR/TAR
        in training; `state` is ignored (no state crosses windows) and None returned."""
        x, raw = (z.transpose(0, 1) for z in self._strided(inputs.T))
        return self.head_loss(x, raw, targets), None

    def forward(self, inputs: Tensor, targets: Tensor, state=None) -> tuple[Tensor, None]:
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
        """ln P of every token, the first after `<eos>`, each with the history its strided
        window gives it (module docstring; stride context // 2): never cut short by a
        batch edge, so `streams` changes nothing and is ignored. The windows run about
        `window` scored tokens per batch."""
        ids_t = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=self.device)
        n, ctx, s = len(ids_t), self.context, self.stride
        if n == 0:
            return np.zeros(0)
        windows, padded = window_starts(n, ctx, s)
        targets = ids_t.new_full((padded,), self.start_token)
        targets[:n] = ids_t
        inputs = torch.cat([targets.new_full((1,), self.start_token), targets[:-1]])
        if windows > 1:
            inputs, targets = inputs.unfold(0, ctx, s), targets.unfold(0, ctx, s)
        else:
            inputs, targets = inputs[None], targets[None]
        out, per_batch, scored = [], max(1, window // s), 0
        with evaluating(self):
            for i in range(0, windows, per_batch):
                x = self._run(inputs[i : i + per_batch])[0]
                lp = self.target_log_probs(x, targets[i : i + per_batch])
                out.append(lp[:, ctx - s :].flatten() if i else self._scored(lp[None])[0])
                if progress is not None:
                    progress(min(out[-1].numel(), n - scored))
                scored += out[-1].numel()
        return torch.cat(out)[:n].double().cpu().numpy()

    def window_start(self, position: int) -> int:
        """Where the window that scores `position` (of the inputs read) starts."""
        if position < self.context:
            return 0
        return ((position - self.context) // self.stride + 1) * self.stride

    def _read(self, tokens: list[int]) -> Cache | None:
        if not tokens:
            return None
        with evaluating(self):
            return self._run(torch.tensor([tokens], device=self.device))[2]

    @torch.inference_mode()
    def context_state(self, window: np.ndarray) -> AttentionState:
        tokens = np.asarray(window, dtype=np.int64).tolist()
        if not tokens:
            return self.start()
        offset = self.window_start(len(tokens) - 1)
        return AttentionState(offset, tokens[offset:-1], self._read(tokens[offset:-1]), tokens[-1])

    def start(self, prompt: np.ndarray | None = None) -> AttentionState:
        prompt = [] if prompt is None else np.asarray(prompt, dtype=np.int64).tolist()
        return self.context_state(np.asarray([self.start_token, *prompt]))

    def set_generation_precision(self, precision: str) -> None:
        """'fp32' only: bf16 weights are the recurrent models' generation option."""
        if precision != "fp32":
            raise SeqlmError(f"precision {precision} applies to recurrent models only")

    @torch.inference_mode()
    def _step(self, state: AttentionState) -> tuple:
        """Reads `last` on the cached keys/values. Past the context the window moves on
        by the stride and is read again (learned positions cannot slide): generation sees
        exactly the history `log_probs` scores with."""
        if state.result is not None:
            return state.result
        offset = self.window_start(state.offset + len(state.window))
        window, cache = state.window, state.cache
        if offset != state.offset:
            window = window[offset - state.offset :]
            cache = self._read(window)
        with evaluating(self):
            x, cache = self.features(torch.tensor([[state.last]], device=self.device), cache)
            log_probs = self.log_softmax(x)[0, 0].double().cpu().numpy()
        state.result = (AttentionState(offset, [*window, state.last], cache, -1), log_probs)
        return state.result

    def next_log_probs(self, state: AttentionState) -> np.ndarray:
        return self._step(state)[1]

    def advance(self, state: AttentionState, token: int) -> AttentionState:
        after = self._step(state)[0]
        return AttentionState(after.offset, after.window, after.cache, int(token))

    @torch.inference_mode()
    def score_windows(
        self,
        windows: list[np.ndarray],
        targets: np.ndarray,
        chunk: int = 256,
        prefix: np.ndarray | None = None,
    ) -> np.ndarray:
        """ln P(target | window) for equally long windows, batched; `prefix` is read
        first where the context has room. Only the last `context` tokens are attended to:
        the Transformer's context is bounded, where a recurrent model's is not."""
        before = [] if prefix is None else np.asarray(prefix, dtype=np.int64).tolist()
        out = []
        with evaluating(self):
            for i in range(0, len(windows), chunk):
                rows = [
                    [*before, *np.asarray(w).tolist()][-self.context :]
                    for w in windows[i : i + chunk]
                ]
                x = self._run(torch.tensor(rows, dtype=torch.long, device=self.device))[0]
                lp = self.log_softmax(x[:, -1])
                tgt = torch.as_tensor(np.asarray(targets[i : i + chunk]), device=self.device)
                out.append(lp.gather(1, tgt[:, None])[:, 0].double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)
