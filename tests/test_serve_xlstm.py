"""Gate views of the xLSTM cells (sLSTM, mLSTM) in `seqlm serve` and `seqlm probe gates`,
against `RecurrentLM.gates` of a separately built reference-backend copy; and a one-line
refusal for the models without gates (Transformer, minGRU, minLSTM)."""

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="seqlm serve needs fastapi (pip install -e '.[test]')")
from fastapi.testclient import TestClient  # noqa: E402

from seqlm.cli import main  # noqa: E402
from seqlm.nn.build import build_model  # noqa: E402
from seqlm.nn.checkpoint import save_recurrent  # noqa: E402
from seqlm.nn.config import ModelConfig  # noqa: E402
from seqlm.serve import Limits, create_app, load_models  # noqa: E402

TEXT = "the old dogs ( near a river ) chase a bird\nthe cat sees every fox"
MEMORY = {"slstm": "normalizer_state", "mlstm": "memory_norm"}
NO_GATES = ("transformer", "mingru", "minlstm")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, small_corpus):
    """Tiny untrained models of each cell (2 layers, 2 heads), saved; the originals kept."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: more threads only contend on a shared machine
    root, built = tmp_path_factory.mktemp("xlstm"), {}
    for cell in (*MEMORY, *NO_GATES):
        config = ModelConfig(
            cell=cell, vocab_size=len(small_corpus.vocab), embed=8, hidden=8, layers=2, heads=2
        )
        model = build_model(config, small_corpus.vocab)
        model.reset_parameters(3)
        save_recurrent(model, root / cell, {"corpus": small_corpus.spec.to_json()})
        built[cell] = model.eval()
    yield root, built
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(saved, tmp_path_factory):
    root, _ = saved
    models = load_models([str(root / cell) for cell in (*MEMORY, *NO_GATES)])
    limits = Limits(max_tokens=300, index_tokens=400, cache_dir=tmp_path_factory.mktemp("index"))
    with TestClient(create_app(models, limits)) as c:
        yield c


def reference_gates(model, text: str) -> tuple[list[str], list[dict[str, np.ndarray]]]:
    """The tokens and `RecurrentLM.gates` of a reference-backend copy built here (the start
    token read first, as scoring does), without the start token's row."""
    ref = build_model(model.config, model.vocab, "reference")
    ref.load_canonical({k: v.detach() for k, v in model.canonical_state().items()})
    tokens = model.tokenize(text)
    ids = np.concatenate([[ref.start_token], model.vocab.encode(tokens)])
    return tokens, [{k: v[1:] for k, v in layer.items()} for layer in ref.gates(ids)]


def wait_for_index(client, name: str) -> None:
    import time

    for _ in range(600):
        if not isinstance(client.app.state.indexes[name], str):
            return
        time.sleep(0.05)


@pytest.mark.parametrize("cell", sorted(MEMORY))
def test_gates_of_xlstm_equal_the_reference_backend(client, saved, cell):
    listed = {m["name"]: m for m in client.get("/models").json()["models"]}
    assert listed[cell]["gates"] and not any(listed[n]["gates"] for n in NO_GATES)
    r = client.post("/gates", json={"model": cell, "text": TEXT, "cells": ["1:0", "2:5", "1:7"]})
    assert r.status_code == 200, r.text
    body = r.json()
    tokens, states = reference_gates(saved[1][cell], TEXT)
    assert body["tokens"] == tokens and body["units"] == [8, 8] and body["kind"] == cell
    assert body["memory_rows"] == [MEMORY[cell]]
    assert [(c["layer"], c["unit"]) for c in body["cells"]] == [(1, 0), (2, 5), (1, 7)]
    for row in body["cells"]:
        layer = states[row["layer"] - 1]
        assert row[MEMORY[cell]] is not None
        for key in ("input_gate", "forget_gate", "output_gate", "cell_state", MEMORY[cell]):
            np.testing.assert_allclose(
                row[key], layer[key][:, row["unit"]], rtol=1e-5, atol=1e-4, err_msg=key
            )
        other = next(m for m in MEMORY.values() if m != MEMORY[cell])
        assert row[other] is None
    for li, layer in enumerate(states):
        np.testing.assert_allclose(
            body["forget_mean"][li], layer["forget_gate"].mean(1), rtol=1e-5, atol=1e-4
        )
    top = client.post("/gates", json={"model": cell, "text": TEXT, "top": 3}).json()
    spread = [np.tanh(s["cell_state"]).std(axis=0) for s in states]
    best = sorted(((-float(v), li + 1, u) for li, s in enumerate(spread) for u, v in enumerate(s)))
    assert [(c["layer"], c["unit"]) for c in top["cells"]] == [(l, u) for _, l, u in best[:3]]


@pytest.mark.parametrize("cell", sorted(MEMORY))
def test_pattern_search_reads_the_xlstm_cell_state(client, saved, cell):
    wait_for_index(client, cell)
    start, end, threshold = 3, 4, 0.0
    r = client.post(
        "/patterns",
        json={"model": cell, "text": TEXT, "start": start, "end": end, "threshold": threshold},
    )
    assert r.status_code == 200, r.text
    _, states = reference_gates(saved[1][cell], TEXT)
    on = np.concatenate([np.round(np.tanh(s["cell_state"]) * 127) > 0 for s in states], axis=1)
    expected = np.flatnonzero(on[start : end + 1].all(axis=0) & ~on[start - 1])
    got = [8 * (c["layer"] - 1) + c["unit"] for c in r.json()["cells"]]
    assert got == expected.tolist()


@pytest.mark.parametrize("cell", NO_GATES)
@pytest.mark.parametrize("path", ["/gates", "/patterns"])
def test_models_without_gates_get_one_line_422(client, cell, path):
    span = {"start": 0, "end": 0} if path == "/patterns" else {}
    r = client.post(path, json={"model": cell, "text": "a b", **span})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "\n" not in detail and "sLSTM or mLSTM" in detail and f"{cell} ({cell}) has" in detail


@pytest.mark.parametrize("cell", sorted(MEMORY))
def test_probe_gates_writes_the_xlstm_figures(saved, cell, tmp_path, capsys):
    out = tmp_path / "gates"
    argv = ["probe", "gates", str(saved[0] / cell), "--out", str(out), "--tokens", "200"]
    assert main([*argv, "--cells", "2:7"]) == 0
    text = capsys.readouterr().out
    assert "forget gate mean" in text and "output gate mean" in text
    assert (out / "gate_saturation.png").stat().st_size > 0
    assert (out / "gate_saturation.svg").stat().st_size > 0
    page = (out / "cells.html").read_text()
    assert page.count("<span") == 200 and "layer 2, cell 7" in page
    assert {"slstm": "sLSTM", "mlstm": "mLSTM"}[cell] + " cells" in page


@pytest.mark.parametrize("cell", NO_GATES)
def test_probe_gates_refuses_models_without_gates(saved, cell, tmp_path, capsys):
    argv = ["probe", "gates", str(saved[0] / cell), "--out", str(tmp_path / "g")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqlm: error:") and "\n" not in err and f"a {cell}" in err
