"""The AWD-LSTM regularisers (Merity et al. 2017), each a few lines of tensor arithmetic.

- Locked (variational) dropout: one mask per sequence, shared by every time step (Gal &
  Ghahramani 2016): shape (1, B, d), so each stream of a batch draws its own mask.
- Embedding (word) dropout: whole word types are dropped from the embedding matrix for
  one forward pass and the survivors rescaled by 1/(1-p), so a dropped word is zero
  wherever it occurs in the batch.
- Weight drop (DropConnect on the hidden-to-hidden matrix W_hh): one mask per forward
  pass applied to the weights, not the activations, so the recurrence itself stays a
  fused kernel (oneDNN / cuDNN) with a different matrix.
- AR / TAR: α·mean(h²) on the last layer's dropped output (activation regularisation)
  and β·mean((h_t − h_{t−1})²) on its undropped output (temporal AR: slow changes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def locked_dropout(x: Tensor, p: float, variational: bool, training: bool) -> Tensor:
    """x (T, B, d); variational: one mask per stream (1, B, d), shared across time."""
    if not training or p == 0:
        return x
    if not variational:
        return F.dropout(x, p, training=True)
    mask = x.new_empty(1, *x.shape[1:]).bernoulli_(1 - p) / (1 - p)
    return x * mask


def embedding_dropout(weight: Tensor, ids: Tensor, p: float, training: bool) -> Tensor:
    """Embeddings of `ids` with a random set of word types (rows) zeroed, the rest scaled."""
    if not training or p == 0:
        return F.embedding(ids, weight)
    mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
    return F.embedding(ids, weight * mask)


def drop_weights(weight: Tensor, p: float) -> Tensor:
    """DropConnect: the matrix with each entry zeroed with probability p, the rest /(1-p).
    The mask is drawn as `bernoulli_` on a tensor of the weight's shape (tests redraw it)."""
    mask = torch.empty_like(weight).bernoulli_(1 - p) / (1 - p)
    return weight * mask


def activation_penalty(dropped: Tensor, raw: Tensor, ar: float, tar: float) -> Tensor:
    """α·mean(dropped²) + β·mean((raw_t − raw_{t−1})²) over (T, B, d) outputs."""

    def wide(x: Tensor) -> Tensor:  # fp32 under bf16 autocast; float64 stays float64
        return x if x.dtype == torch.float64 else x.float()

    penalty = wide(dropped).new_zeros(())
    if ar:
        penalty = penalty + ar * wide(dropped).pow(2).mean()
    if tar and raw.shape[0] > 1:
        penalty = penalty + tar * wide(raw[1:] - raw[:-1]).pow(2).mean()
    return penalty
