"""Our cells against torch.nn (an independent implementation), in float64."""

import pytest
import torch
from torch import nn

from seqlm.nn.cells import FusedLayer, RecurrentCell, ReferenceLayer

TORCH = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def copy_from_torch(ours: list[ReferenceLayer], theirs: nn.Module) -> None:
    with torch.no_grad():
        for i, layer in enumerate(ours):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(layer.cell, name).copy_(getattr(theirs, f"{name}_l{i}"))


def run_ours(layers, x, state):
    new_state = []
    for i, layer in enumerate(layers):
        s = None
        if state is not None:
            s = (state[0][i], state[1][i]) if isinstance(state, tuple) else state[i]
        x, s = layer(x, s)
        new_state.append(s)
    return x, new_state


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("carried", [False, True])
def test_cells_match_torch_nn(kind, num_layers, carried):
    torch.manual_seed(0)
    T, B, I, H = 7, 3, 5, 6
    theirs = TORCH[kind](I, H, num_layers=num_layers).double()
    ours = [ReferenceLayer(kind, I if i == 0 else H, H).double() for i in range(num_layers)]
    copy_from_torch(ours, theirs)
    x = torch.randn(T, B, I, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    state = None
    if carried:
        h0 = torch.randn(num_layers, B, H, dtype=torch.float64)
        state = (h0, torch.randn_like(h0)) if kind == "lstm" else h0
    out_t, final_t = theirs(x1, state)
    out_o, final_o = run_ours(ours, x2, state)
    torch.testing.assert_close(out_o, out_t, atol=1e-5, rtol=0)
    if kind == "lstm":
        torch.testing.assert_close(
            torch.stack([s[0] for s in final_o]), final_t[0], atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            torch.stack([s[1] for s in final_o]), final_t[1], atol=1e-5, rtol=0
        )
    else:
        torch.testing.assert_close(torch.stack(final_o), final_t, atol=1e-5, rtol=0)
    weights = torch.randn_like(out_t)
    (out_t * weights).sum().backward()
    (out_o * weights).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=0)
    for i, layer in enumerate(ours):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            torch.testing.assert_close(
                getattr(layer.cell, name).grad,
                getattr(theirs, f"{name}_l{i}").grad,
                atol=1e-5,
                rtol=0,
            )


def test_gates_are_named_views_of_the_stacked_weights():
    cell = RecurrentCell("lstm", 4, 3)
    cell.forget_gate.bias = 1.0
    assert torch.all(cell.bias_ih[3:6] == 1.0) and torch.all(cell.bias_hh[3:6] == 0.0)
    assert torch.equal(cell.forget_gate.bias, torch.ones(3))
    with torch.no_grad():
        cell.output_gate.weight_hidden.fill_(0.5)
    assert torch.all(cell.weight_hh[9:12] == 0.5)
    assert cell.candidate.weight.shape == (3, 3 + 4)  # W acting on [h, x]
    gru = RecurrentCell("gru", 4, 3)
    assert gru.update_gate.weight_input.shape == (3, 4)
    with pytest.raises(AttributeError):
        _ = gru.forget_gate


def test_recorded_gates_equal_a_hand_computation():
    torch.manual_seed(1)
    layer = ReferenceLayer("lstm", 4, 3).double()
    x = torch.randn(5, 1, 4, dtype=torch.float64)
    _, _, gates = layer(x, return_gates=True)
    c = layer.cell
    h = torch.zeros(3, dtype=torch.float64)
    cell_state = torch.zeros(3, dtype=torch.float64)
    for t in range(5):

        def z(g, x_t=x[t, 0], h=h):
            return g.weight_input @ x_t + g.weight_hidden @ h + g.bias

        f, i = torch.sigmoid(z(c.forget_gate)), torch.sigmoid(z(c.input_gate))
        o, g = torch.sigmoid(z(c.output_gate)), torch.tanh(z(c.candidate))
        cell_state = f * cell_state + i * g
        h = o * torch.tanh(cell_state)
        torch.testing.assert_close(gates["forget_gate"][t, 0], f)
        torch.testing.assert_close(gates["cell_state"][t, 0], cell_state)
        torch.testing.assert_close(gates["hidden"][t, 0], h)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fused_layer_computes_the_same_function(kind):
    torch.manual_seed(2)
    ref, fused = ReferenceLayer(kind, 5, 4).double(), FusedLayer(kind, 5, 4).double()
    with torch.no_grad():
        for name, tensor in ref.weights.items():
            fused.weights[name].copy_(tensor)
    x = torch.randn(6, 2, 5, dtype=torch.float64)
    torch.testing.assert_close(fused(x)[0], ref(x)[0], atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fused_single_step_path_matches_the_sequence_kernel(kind):
    """Generation steps one token at a time on the cell kernel; same function."""
    torch.manual_seed(3)
    fused = FusedLayer(kind, 5, 4).double()
    x = torch.randn(4, 2, 5, dtype=torch.float64)
    with torch.no_grad():
        whole, final = fused(x)
        state, steps = None, []
        for t in range(4):
            out, state = fused(x[t : t + 1], state)
            steps.append(out)
    torch.testing.assert_close(torch.cat(steps), whole, atol=1e-12, rtol=0)
    for a, b in zip(
        state if kind == "lstm" else [state], final if kind == "lstm" else [final], strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
