"""Ship a model outside seqlm: ONNX or TorchScript step functions, ARPA for n-grams.

A recurrent LM is exported as a *step function with explicit state*: inputs `tokens`
(T, B) int64 plus each layer's state (`h0_0`, `c0_0`, `h0_1`, ... each (B, size)); outputs
`log_probs` (T, B, V) and the new states (`h1_0`, `c1_0`, ...). Feeding the outputs back
as the next call's inputs streams text one token at a time, which is what a serving
runtime needs; the zero state plus the `<eos>` token starts a text (seqlm's convention).
A cell with no sequence form (sLSTM, Mogrifier: a Python loop over time, which a trace
unrolls to the traced length) exports a one-token step: `tokens` is (1, B), fixed. A
state the model never reads (the mLSTM's h: its memory is (C, n, m)) is no graph input.
A Transformer (`--cell transformer`) carries no state: it exports its window, `tokens`
(T, B) with T at most its context -> `log_probs` (T, B, V), causal within the window (feed
the last `context` tokens; `<eos>` first at a text's start).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from seqlm.interface import LanguageModel
from seqlm.io import SeqlmError, atomic_write, check_output_file
from seqlm.nn.build import is_neural
from seqlm.nn.recurrent import RecurrentLM

FORMATS = ("onnx", "torchscript", "arpa")


class StepFunction(nn.Module):
    """The model's forward pass with its state as flat tensors in and out."""

    def __init__(self, model: RecurrentLM):
        super().__init__()
        self.model = model.eval()

    def state_names(self, prefix: str) -> list[str]:
        parts = "hcnm"[: self.model.state_parts]  # h; (h, c) an LSTM's; (h, c, n, m) xLSTM's
        names = []
        for i in range(len(self.model.layers)):
            names += [f"{prefix.replace('h', part)}_{i}" for part in parts]
        return names

    def zero_state(self, batch: int = 1) -> list[Tensor]:
        return self.model.flatten_state(self.model.initial_state(batch))

    def forward(self, tokens: Tensor, *flat_state: Tensor):
        x, new = self.model.features(tokens, self.model.unflatten_state(list(flat_state)))
        return (self.model.log_softmax(x), *self.model.flatten_state(new))


class WindowFunction(StepFunction):
    """A Transformer's window: tokens in, log-probabilities out, no state."""

    def state_names(self, prefix: str) -> list[str]:
        return []

    def zero_state(self, batch: int = 1) -> list[Tensor]:
        return []

    def forward(self, tokens: Tensor):
        return self.model.log_softmax(self.model.features(tokens)[0])


def exported(model) -> StepFunction:
    return (StepFunction if isinstance(model, RecurrentLM) else WindowFunction)(model.cpu())


def traced_length(model: RecurrentLM) -> int:
    """3 (T > 1 traces the sequence form), or 1 where a layer runs only the step loop."""
    if not isinstance(model, RecurrentLM):
        return 3  # a Transformer's window
    return 3 if all(layer.fused for layer in model.layers) else 1


def export_onnx(model: RecurrentLM, out: str | Path) -> Path:
    step = exported(model)
    tokens = torch.tensor([[model.start_token]] * traced_length(model)).view(-1, 1)
    state = step.zero_state(1)
    inputs, outputs = ["tokens", *step.state_names("h0")], ["log_probs", *step.state_names("h1")]
    time = {0: "time"} if len(tokens) > 1 else {}
    axes = {"tokens": {**time, 1: "batch"}, "log_probs": {**time, 1: "batch"}}
    axes.update({name: {0: "batch"} for name in inputs[1:] + outputs[1:]})

    def write(tmp: str) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # batch-size advice for variable-length RNNs
            torch.onnx.export(
                step,
                (tokens, *state),
                tmp,
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=axes,
                dynamo=False,
            )

    try:
        atomic_write(out, write)
    except ImportError as e:
        raise SeqlmError(
            f"ONNX export needs the onnx package: pip install 'seqlm[export]' ({e})"
        ) from None
    return Path(out)


def export_torchscript(model: RecurrentLM, out: str | Path) -> Path:
    """For LibTorch (C++) deployments; PyTorch has deprecated TorchScript, ONNX is the future."""
    step = exported(model)
    tokens = torch.tensor([[model.start_token]] * traced_length(model)).view(-1, 1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on nn.LSTM's shape checks; deprecation
        traced = torch.jit.trace(step, (tokens, *step.zero_state(1)), check_trace=False)
    atomic_write(out, traced.save)
    return Path(out)


def export_model(model: LanguageModel, source: str | Path, fmt: str, out: str | Path) -> Path:
    if fmt not in FORMATS:
        raise SeqlmError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")
    check_output_file(out)  # a new name or a regular file, before any work
    parent = Path(out).resolve().parent
    if not parent.is_dir():
        raise SeqlmError(f"cannot write {out}: {parent} is not a directory")
    if fmt == "arpa":
        if model.kind != "ngram":
            raise SeqlmError("--format arpa is for n-gram models")
        arpa = Path(source) / "model.arpa" if Path(source).is_dir() else Path(source)
        if not arpa.exists():  # a binary model directory: write the ARPA from its tables
            return model.write_arpa(out)
        atomic_write(out, lambda tmp: shutil.copyfile(arpa, tmp))
        return Path(out)
    if not is_neural(model):
        raise SeqlmError(f"--format {fmt} is for neural models; n-grams export as --format arpa")
    return (export_onnx if fmt == "onnx" else export_torchscript)(model, out)
