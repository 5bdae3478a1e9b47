"""The output side every neural language model shares: the distribution over the
vocabulary (a full softmax, or an adaptive one, Grave et al. 2017), the log-probabilities
of given targets, and the training loss with the AR/TAR penalties (Merity et al. 2017).
What comes before it (recurrent layers, Transformer blocks) is the model's own."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlm.nn.regularize import activation_penalty


def at_least_fp32(x: Tensor) -> Tensor:
    """Softmax and loss in fp32 under bf16/fp16 autocast; float64 stays float64."""
    return x if x.dtype == torch.float64 else x.float()


class OutputHead:
    """Mixed into a model that has `decoder` (nn.Linear or nn.AdaptiveLogSoftmaxWithLoss)
    and `config` (a ModelConfig: `adaptive_cutoffs`, `ar`, `tar`)."""

    decoder: nn.Module

    def log_softmax(self, features: Tensor, decoder: nn.Module | None = None) -> Tensor:
        """The distribution over the vocabulary; `decoder`: a low-precision copy of ours."""
        decoder = self.decoder if decoder is None else decoder
        flat = features.reshape(-1, features.shape[-1])
        if self.config.adaptive_cutoffs:
            out = decoder.log_prob(flat)
        else:
            out = F.log_softmax(at_least_fp32(decoder(flat)), dim=-1)
        return out.view(*features.shape[:-1], -1)

    def target_log_probs(self, features: Tensor, targets: Tensor) -> Tensor:
        """ln P of the given targets only: the adaptive softmax then runs a tail cluster
        just for the targets inside it (PTB's full distribution costs 1.6x as much)."""
        if not self.config.adaptive_cutoffs:
            return self.log_softmax(features).gather(-1, targets[..., None])[..., 0]
        flat = features.reshape(-1, features.shape[-1])
        return self.decoder(flat, targets.reshape(-1)).output.view(targets.shape)

    def head_loss(self, x: Tensor, raw: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy (nats/token) of `targets` from the (dropped) top features
        `x`; in training plus the AR/TAR penalties (AR on `x`, TAR on the undropped `raw`)."""
        c = self.config
        flat = x.reshape(-1, x.shape[-1])
        if c.adaptive_cutoffs:
            loss = self.decoder(flat, targets.reshape(-1)).loss
        else:
            loss = F.cross_entropy(at_least_fp32(self.decoder(flat)), targets.reshape(-1))
        if self.training and (c.ar or c.tar):
            loss = loss + activation_penalty(x, raw, c.ar, c.tar)
        return loss
