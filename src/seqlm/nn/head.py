"""What every neural language model shares: the output side (the distribution over the
vocabulary, a full softmax or an adaptive one, Grave et al. 2017; the log-probabilities of
given targets; the training loss with the AR/TAR penalties, Merity et al. 2017) and the
checkpoint's parameters by name. What comes between the embedding and the output
(recurrent layers, Transformer blocks) is the model's own."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlm.io import SeqlmError
from seqlm.nn.regularize import activation_penalty


def at_least_fp32(x: Tensor) -> Tensor:
    """Softmax and loss in fp32 under bf16/fp16 autocast; float64 stays float64."""
    return x if x.dtype == torch.float64 else x.float()


class OutputHead:
    """Mixed into a model (an nn.Module) that has `embedding`, `decoder` (nn.Linear or
    nn.AdaptiveLogSoftmaxWithLoss), `config` (a ModelConfig: `adaptive_cutoffs`, `ar`,
    `tar`) and its own `canonical_state`."""

    decoder: nn.Module
    embedding: nn.Embedding

    def load_canonical(self, state: dict[str, Tensor]) -> None:
        """Copy `state` (names as `canonical_state` gives them) into the parameters,
        refusing a checkpoint whose names or shapes differ in one line."""
        mine = self.canonical_state()
        if set(state) != set(mine):
            missing, extra = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
            raise SeqlmError(
                f"checkpoint does not match the model (missing {missing[:3]}, "
                f"unexpected {extra[:3]})"
            )
        with torch.no_grad():
            for name, tensor in mine.items():
                if tensor.shape != state[name].shape:
                    raise SeqlmError(
                        f"checkpoint tensor {name} has shape "
                        f"{tuple(state[name].shape)}, the model {tuple(tensor.shape)}"
                    )
                tensor.copy_(state[name])

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

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
