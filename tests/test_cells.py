"""Our cells against torch.nn (an independent implementation), in float64."""

import pytest
import torch
from torch import nn

from seqlm.nn.cells import GRUCell, LSTMCell
from seqlm.nn.layers import CELL_TYPES, RecurrentLayer, make_layer

TORCH = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def copy_from_torch(ours: list[RecurrentLayer], theirs: nn.Module) -> None:
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
    ours = [
        make_layer("reference", kind, I if i == 0 else H, H).double() for i in range(num_layers)
    ]
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
    cell = LSTMCell(4, 3)
    cell.forget_gate.bias = 1.0
    assert torch.all(cell.bias_ih[3:6] == 1.0) and torch.all(cell.bias_hh[3:6] == 0.0)
    assert torch.equal(cell.forget_gate.bias, torch.ones(3))
    with torch.no_grad():
        cell.output_gate.weight_hidden.fill_(0.5)
    assert torch.all(cell.weight_hh[9:12] == 0.5)
    assert cell.candidate.weight.shape == (3, 3 + 4)  # W acting on [h, x]
    gru = GRUCell(4, 3)
    assert gru.update_gate.weight_input.shape == (3, 4)
    with pytest.raises(AttributeError):
        _ = gru.forget_gate


def test_recorded_gates_equal_a_hand_computation():
    torch.manual_seed(1)
    layer = make_layer("reference", "lstm", 4, 3).double()
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
    ref, fused = make_layer("reference", kind, 5, 4), make_layer("fused", kind, 5, 4)
    ref, fused = ref.double(), fused.double()
    with torch.no_grad():
        for name, tensor in ref.weights.items():
            fused.weights[name].copy_(tensor)
    x = torch.randn(6, 2, 5, dtype=torch.float64)
    torch.testing.assert_close(fused(x)[0], ref(x)[0], atol=1e-10, rtol=0)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fused_single_step_path_matches_the_sequence_kernel(kind):
    """Generation steps one token at a time on the cell kernel; same function."""
    torch.manual_seed(3)
    fused = make_layer("fused", kind, 5, 4).double()
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


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_new_cell_draws_torch_nn_initialisation(kind):
    """Same draws, same order as torch.nn.RNN/LSTM/GRU: the global RNG ends where theirs does."""
    torch.manual_seed(4)
    theirs = TORCH[kind](5, 4)
    after_theirs = torch.rand(3)
    torch.manual_seed(4)
    ours = CELL_TYPES[kind](5, 4)
    assert torch.equal(torch.rand(3), after_theirs)
    for name, tensor in ours.weights.items():
        assert torch.equal(tensor, getattr(theirs, f"{name}_l0")), name


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("weight_drop", [0.0, 0.5])
def test_reference_and_fused_layers_agree_in_training(kind, weight_drop):
    """Outputs, final state and every gradient, with the same weight-drop mask."""
    torch.manual_seed(5)
    ref = make_layer("reference", kind, 5, 4, weight_drop).double().train()
    fused = make_layer("fused", kind, 5, 4, weight_drop).double().train()
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    results = []
    for layer in (ref, fused):
        torch.manual_seed(9)  # the mask: drawn once per forward, from the same RNG state
        out, state = layer(x)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        flat = state if isinstance(state, tuple) else (state,)
        results.append((out, flat, {k: v.grad for k, v in layer.weights.items()}))
    (out_r, state_r, grads_r), (out_f, state_f, grads_f) = results
    torch.testing.assert_close(out_f, out_r, atol=1e-12, rtol=0)
    for a, b in zip(state_f, state_r, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    for name in grads_r:
        torch.testing.assert_close(grads_f[name], grads_r[name], atol=1e-12, rtol=0)
    if weight_drop:  # the dropped entries of W_hh get no gradient, through either path
        assert (grads_f["weight_hh"] == 0).float().mean() > 0.2


def test_the_registry_is_the_only_map_from_name_to_cell():
    assert {"rnn", "lstm", "gru", "mogrifier", "mingru", "minlstm"} <= set(CELL_TYPES)
    for kind, cls in CELL_TYPES.items():
        cell = cls(3, 4)
        state = cell.zero_state(5, torch.zeros(1))
        parts = state if isinstance(state, tuple) else (state,)
        assert len(parts) == cls.state_parts and parts[0].shape == (5, 4), kind  # h_t first
        assert all(p.shape[0] == 5 for p in parts), kind  # any shape after the batch (mLSTM's C)
        layer = make_layer("fused", kind, 3, 4)
        # neither a kernel nor a parallel form: the reference loop
        assert layer.fused == (cls.kernel is not None or cls.parallel is not None)
        out, _ = layer(torch.randn(6, 5, 3))
        assert out.shape == (6, 5, 4)
    with pytest.raises(ValueError, match="unknown cell"):
        make_layer("fused", "lsmt", 3, 2)
