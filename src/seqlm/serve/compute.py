"""What the server computes, on batches: scoring, next-token lists and decoding steps.

A recurrent model reads a batch of texts side by side: the texts are padded at the end
(a recurrent model is causal, so padding after a text cannot change its scores) and one
`features` call runs them all. Decoding stacks the states of all open streams and runs
one step of `features` for all of them. An n-gram model has no state worth stacking: it
loops, which costs little because each step is a few table look-ups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from seqlm.generate import TextJoiner, hidden_token, pick_token
from seqlm.interface import LanguageModel
from seqlm.nn.layers import evaluating

LN2 = math.log(2)


def _finite(x: float) -> float | None:
    """JSON has no infinity: a zero probability is sent as null."""
    return float(x) if math.isfinite(x) else None


def _recurrent(lm: LanguageModel) -> bool:
    return hasattr(lm, "features") and hasattr(lm, "start_token")


@torch.inference_mode()
def _read_padded(lm, sequences: list[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
    """Top-layer features (T, B, d) after reading each sequence from the start token."""
    lengths = [len(s) + 1 for s in sequences]
    inputs = torch.full((max(lengths), len(sequences)), lm.start_token, dtype=torch.long)
    for b, seq in enumerate(sequences):
        inputs[1 : lengths[b], b] = torch.as_tensor(np.asarray(seq, dtype=np.int64))
    with evaluating(lm):
        x, _ = lm.features(inputs.to(lm.device))
    return x, lengths


def _distributions(lm: LanguageModel, ids: np.ndarray):
    """Each position's full next-token distribution, one at a time (any model)."""
    state = lm.start()
    for token in ids.tolist():
        yield lm.next_log_probs(state)
        state = lm.advance(state, int(token))


def _top(lm: LanguageModel, log_probs: np.ndarray, k: int) -> list[dict]:
    """The k likeliest, ties in vocabulary order (as `lm.next_tokens`'s stable argsort),
    without sorting the whole vocabulary."""
    if k < len(log_probs):
        candidates = np.flatnonzero(log_probs >= np.partition(log_probs, -k)[-k])
        order = candidates[np.argsort(-log_probs[candidates], kind="stable")[:k]]
    else:
        order = np.argsort(-log_probs, kind="stable")
    return [{"token": lm.vocab.tokens[i], "prob": float(np.exp(log_probs[i]))} for i in order]


def _row(
    lm: LanguageModel,
    tokens: list[str],
    log_probs: np.ndarray,
    ranks: list[int],
    top: list[list[dict]],
) -> dict:
    lp = [_finite(x) for x in log_probs.tolist()]
    mean = float(-log_probs.mean()) if len(tokens) else float("nan")
    return {
        "tokens": tokens,
        "log_probs": lp,
        "surprisal_bits": [None if x is None else -x / LN2 for x in lp],
        "ranks": ranks,
        "top": top,
        "oov": [t not in lm.vocab.stoi for t in tokens],
        "perplexity": _finite(math.exp(mean)) if math.isfinite(mean) else None,
    }


def score_texts(lm: LanguageModel, texts: list[str], top_k: int = 5) -> list[dict]:
    """Per text: every token's log-probability, surprisal (bits), the rank the model gave
    the true token (1 = its first choice), the model's top-k alternatives and the token's
    character span in the text."""
    rows = _score_texts(lm, texts, top_k)
    for row, text in zip(rows, texts, strict=True):
        row["spans"] = [list(span) for span in lm.tokenizer.spans(text, row["tokens"])]
    return rows


def _score_texts(lm: LanguageModel, texts: list[str], top_k: int) -> list[dict]:
    tokens = [lm.tokenize(t) for t in texts]
    ids = [lm.vocab.encode(t) for t in tokens]
    if _recurrent(lm) and any(len(i) for i in ids):
        return _score_recurrent(lm, tokens, ids, top_k)
    rows = []
    for toks, seq in zip(tokens, ids, strict=True):
        log_probs = np.asarray(lm.log_probs(seq), dtype=np.float64) if len(seq) else np.zeros(0)
        ranks, top = [], []
        for t, dist in zip(seq.tolist(), _distributions(lm, seq), strict=True):
            ranks.append(int((dist > dist[t]).sum()) + 1)
            top.append(_top(lm, dist, top_k))
        rows.append(_row(lm, toks, log_probs, ranks, top))
    return rows


@torch.inference_mode()
def _score_recurrent(lm, tokens, ids, top_k: int) -> list[dict]:
    x, lengths = _read_padded(lm, ids)
    rows = []
    for b, (toks, seq) in enumerate(zip(tokens, ids, strict=True)):
        n = len(seq)
        if n == 0:  # an empty text (its batch-mates are read as usual)
            rows.append(_row(lm, toks, np.zeros(0), [], []))
            continue
        dist = lm.log_softmax(x[:n, b])  # (n, V): each position's distribution
        target = torch.as_tensor(np.asarray(seq, dtype=np.int64), device=dist.device)
        true = dist.gather(1, target[:, None])
        ranks = ((dist > true).sum(1) + 1).tolist()
        values, index = dist.topk(min(top_k, dist.shape[1]), dim=1)
        probs, index = values.exp().tolist(), index.tolist()
        top = [
            [{"token": lm.vocab.tokens[i], "prob": p} for i, p in zip(ix, pr, strict=True)]
            for ix, pr in zip(index, probs, strict=True)
        ]
        log_probs = true[:, 0].double().cpu().numpy()
        rows.append(_row(lm, toks, log_probs, ranks, top))
    return rows


def next_tokens(lm: LanguageModel, prefixes: list[str], k: int = 10) -> list[list[dict]]:
    """The k most likely next tokens after each prefix (as `lm.next_tokens`), batched."""
    ids = [lm.prompt_ids(p) for p in prefixes]
    if not _recurrent(lm):
        return [_top(lm, lm.next_log_probs(lm.start(i)), k) for i in ids]
    with torch.inference_mode():
        x, lengths = _read_padded(lm, ids)
        last = torch.stack([x[n - 1, b] for b, n in enumerate(lengths)])
        dist = lm.log_softmax(last).double().cpu().numpy()
    return [_top(lm, d, k) for d in dist]


# -- decoding: many streams, one step at a time --------------------------------------------
@dataclass
class Decoding:
    """One generation stream as the worker holds it."""

    state: object
    rng: np.random.Generator
    temperature: float
    top_k: int | None
    top_p: float | None
    remaining: int
    joiner: TextJoiner
    hide: int | None

    @classmethod
    def open(
        cls,
        lm: LanguageModel,
        prompt: str,
        max_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        seed: int | None,
    ) -> Decoding:
        """The state after the prompt, as `lm.stream` starts (same seed, same text)."""
        return cls(
            lm.start(lm.prompt_ids(prompt)),
            np.random.default_rng(seed),
            temperature,
            top_k,
            top_p,
            max_tokens,
            TextJoiner(lm.tokenizer, prompt),
            hidden_token(lm),
        )


def step(lm: LanguageModel, streams: list[Decoding]) -> list[str]:
    """Every stream's next piece of text; each stream's state moves on by one token."""
    if _recurrent(lm) and lm.initial_state(1) is not None:  # a Transformer's: per stream
        dists, hiddens = _recurrent_step(lm, [s.state for s in streams])
    else:
        dists, hiddens = [lm.next_log_probs(s.state) for s in streams], None
    pieces = []
    for i, s in enumerate(streams):
        token = pick_token(dists[i], s.rng, s.temperature, s.top_k, s.top_p, s.hide)
        if hiddens is None:
            s.state = lm.advance(s.state, token)
        else:
            s.state = type(s.state)(hiddens[i], token)
        s.remaining -= 1
        piece = s.joiner.piece(lm.vocab.tokens[token])
        pieces.append(piece + s.joiner.flush() if s.remaining <= 0 else piece)
    return pieces


@torch.inference_mode()
def _recurrent_step(lm, states: list) -> tuple[np.ndarray, list]:
    """One `features` step over the stacked states (a GenerationState each: the hidden
    state before its pending token `last`)."""
    zero = lm.initial_state(1)
    layers = [
        [s.hidden[i] if s.hidden is not None else zero[i] for s in states] for i in range(len(zero))
    ]
    paired = lm.paired_state  # (h, c) per layer
    stacked = [
        tuple(torch.cat(parts) for parts in zip(*layer, strict=True))
        if paired
        else torch.cat(layer)
        for layer in layers
    ]
    tokens = torch.tensor([[s.last for s in states]], device=lm.device)
    with evaluating(lm):
        x, new = lm.features(tokens, stacked)
        dists = lm.log_softmax(x[0]).double().cpu().numpy()
    split = [
        [tuple(t[b : b + 1] for t in s) if paired else s[b : b + 1] for s in new]
        for b in range(len(states))
    ]
    return dists, split
