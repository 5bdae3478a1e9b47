"""Memory tasks, gate statistics and property-tracking cells, against known answers."""

import json

import numpy as np
import pytest
import torch
from conftest import MINI

from seqlm.cli import main
from seqlm.data import load_corpus
from seqlm.nn import ModelConfig, RecurrentLM
from seqlm.probe import gates as G
from seqlm.probe import memory as M


# -- memory tasks ---------------------------------------------------------------------------
def test_adding_targets_are_the_sum_of_the_two_marked_values():
    x, y = M.adding_batch(30, 200, np.random.default_rng(0))
    values, marks = x[..., 0].numpy(), x[..., 1].numpy()
    assert (marks.sum(axis=0) == 2).all()
    assert (marks[:15].sum(axis=0) == 1).all() and (marks[15:].sum(axis=0) == 1).all()
    np.testing.assert_allclose(y.numpy(), (values * marks).sum(axis=0), rtol=1e-6)
    assert ((values >= 0) & (values < 1)).all()


def test_copy_targets_repeat_each_symbol_exactly_t_steps_later():
    T, symbols, alphabet = 12, 4, 6
    x, y = M.copy_batch(T, 50, np.random.default_rng(1), symbols, alphabet)
    assert x.shape == y.shape == (T + symbols, 50)
    for i in range(symbols):
        assert torch.equal(y[T + i], x[i])  # recalled exactly T steps after being seen
    assert (y[:T] == -1).all()  # nothing is asked before the recall
    assert (x[symbols:T] == alphabet).all() and (x[T:] == alphabet + 1).all()  # blanks, cue
    assert int(x[:symbols].max()) < alphabet
    with pytest.raises(ValueError, match="shorter"):
        M.copy_batch(2, 1, np.random.default_rng(0), symbols=3)


def test_a_short_delay_is_learned_well_beyond_chance():
    settings = M.MemorySettings(hidden=32, steps=300, eval_every=50, test_size=256)
    row = M.train_memory("copy", "lstm", 4, settings)
    assert row["accuracy"] > 0.5  # chance: 1/8
    assert row["steps"] <= 300 and row["length"] == 4


def test_ladder_doubles_while_solved(monkeypatch):
    def fake(task, cell, length, settings=None):
        return {"length": length, "solved": length <= 80}

    monkeypatch.setattr(M, "train_memory", fake)
    result = M.memory_ladder("adding", "lstm", (10, 20), max_length=1000)
    assert [r["length"] for r in result["rows"]] == [10, 20, 40, 80, 160]
    assert result["longest_solved"] == 80


def test_forget_bias_is_set_on_the_lstm_layer():
    net = M.MemoryNet("lstm", 2, 1, 8, forget_bias=1.0)
    w = net.layer.weights
    assert torch.all(w["bias_ih"][8:16] + w["bias_hh"][8:16] == 1.0)


# -- inside the LSTM ------------------------------------------------------------------------
def test_states_equal_a_hand_computation_from_the_weights():
    corpus = load_corpus(MINI)
    config = ModelConfig(cell="lstm", vocab_size=len(corpus.vocab), embed=6, hidden=5, layers=2)
    model = RecurrentLM(config, corpus.vocab, "fused")
    model.reset_parameters(3)
    ids = corpus["test"][:12]
    states = G.lstm_states(model, ids)
    w = {k: v.detach().double().numpy() for k, v in model.canonical_state().items()}

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    x = w["embedding.weight"][ids]
    for layer in range(2):
        p = f"layers.{layer}."
        h, c, hs = np.zeros(5), np.zeros(5), []
        for t in range(len(ids)):
            z = (
                w[p + "weight_ih"] @ x[t]
                + w[p + "bias_ih"]
                + w[p + "weight_hh"] @ h
                + w[p + "bias_hh"]
            )
            i, f, g, o = sigmoid(z[:5]), sigmoid(z[5:10]), np.tanh(z[10:15]), sigmoid(z[15:])
            c = f * c + i * g
            h = o * np.tanh(c)
            hs.append(h)
            got = states[layer]
            np.testing.assert_allclose(got["forget_gate"][t], f, atol=1e-5)
            np.testing.assert_allclose(got["input_gate"][t], i, atol=1e-5)
            np.testing.assert_allclose(got["output_gate"][t], o, atol=1e-5)
            np.testing.assert_allclose(got["cell_state"][t], c, atol=1e-5)
        x = np.array(hs)


def test_saturation_fractions():
    a = np.array([[0.05, 0.5], [0.95, 0.5], [0.95, 0.99], [0.5, 0.01]])
    states = [{"input_gate": a, "forget_gate": a, "output_gate": a}]
    s = G.saturation(states)[0]["forget_gate"]
    assert s["left"] == [0.25, 0.25] and s["right"] == [0.5, 0.25]
    assert s["mostly_open"] == 0.0 and s["mostly_closed"] == 0.0


def test_properties_of_a_text():
    tokens = list('ab "c(d)" e\nf[(g')
    assert G.property_values("line_position", tokens).tolist()[-5:] == [11, 0, 1, 2, 3]
    quotes = G.property_values("in_quotes", tokens)
    assert quotes[tokens.index("c")] == 1 and quotes[tokens.index("e")] == 0
    depth = G.property_values("bracket_depth", tokens)
    assert depth[tokens.index("d")] == 1 and depth[tokens.index("e")] == 0 and depth[-1] == 2
    with pytest.raises(ValueError, match="unknown property"):
        G.property_values("colour", tokens)


def test_the_cell_that_tracks_the_property_is_found():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4, 300).astype(float)
    cells = rng.normal(size=(300, 8))
    cells[:, 6] = -0.5 * values + 0.01 * rng.normal(size=300)
    states = [{"cell_state": rng.normal(size=(300, 8))}, {"cell_state": cells}]
    best = G.correlated_cells(states, values, top=2)[0]
    assert (best["layer"], best["unit"]) == (2, 6) and best["r"] < -0.99
    page = G.heatmap_html(list("ab\nc" * 75), states, [best], "char")
    assert page.count("<span") == 300 and "layer 2, cell 6" in page


# -- CLI ------------------------------------------------------------------------------------
def test_cli_memory_and_gates(tmp_path, capsys):
    out = tmp_path / "mem"
    assert (
        main(
            [
                "probe",
                "memory",
                "--cell",
                "rnn,lstm",
                "--task",
                "adding",
                "--lengths",
                "5",
                "--steps",
                "20",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["cell"] for r in payload["results"]] == ["rnn", "lstm"]
    assert (out / "memory.png").stat().st_size > 0 and (out / "memory.json").exists()

    model_dir = tmp_path / "lstm"
    assert (
        main(
            [
                "train",
                "--data",
                MINI,
                "--out",
                str(model_dir),
                "--max-steps",
                "3",
                "--hidden",
                "16",
                "--embed",
                "8",
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    gates_out = tmp_path / "gates"
    assert main(["probe", "gates", str(model_dir), "--out", str(gates_out), "--tokens", "300"]) == 0
    text = capsys.readouterr().out
    assert "bracket_depth" in text and "forget gate mean" in text
    assert (gates_out / "gate_saturation.png").stat().st_size > 0
    assert "<span" in (gates_out / "cells.html").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["probe", "memory", "somedir"], "unrecognized arguments"),
        (["probe", "memory", "--cell", "lsmt"], "unknown --cell"),
        (["probe", "memory", "--lengths", "10,x"], "--lengths: expected comma-separated integers"),
        (["probe", "gates"], "needs at least one MODEL"),
    ],
)
def test_cli_probe_bad_input(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
