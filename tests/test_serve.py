"""`seqlm serve`'s API through FastAPI's TestClient: every endpoint against the library,
every limit and error; batching and disconnects against a real uvicorn server."""

import json
import math
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="seqlm serve needs fastapi (pip install -e '.[test]')")
from fastapi.testclient import TestClient  # noqa: E402
from serve_models import make_models  # noqa: E402

from seqlm.cli import build_parser  # noqa: E402
from seqlm.serve import Limits, create_app, load_models  # noqa: E402
from seqlm.serve.cells import CellIndex  # noqa: E402

TEXT = "the old dogs near a river chase a bird\nthe cat ( with a hat ) sees every fox"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: more threads only contend on a shared machine
    paths = make_models(tmp_path_factory.mktemp("models"))
    yield load_models([str(p) for p in paths.values()])
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(models, tmp_path_factory):
    limits = Limits(
        max_chars=2000,
        max_tokens=300,
        index_tokens=1500,
        cache_dir=tmp_path_factory.mktemp("index"),
    )
    with TestClient(create_app(models, limits)) as c:
        for _ in range(600):  # the pattern index builds in the background: wait for it
            if not isinstance(c.app.state.indexes["lstm"], str):
                break
            time.sleep(0.05)
        yield c


def events(response) -> tuple[str, dict]:
    text, end = "", None
    for block in response.text.strip().split("\n\n"):
        data = json.loads(block.split("data: ", 1)[1])
        if block.startswith("event: end"):
            end = data
        else:
            text += data["text"]
    return text, end


def test_models_lists_every_model_with_its_facts(client, models):
    body = client.get("/models").json()
    got = {m["name"]: m for m in body["models"]}
    assert set(got) == {"3gram", "lstm", "gru"}
    for name, m in got.items():
        lm = models[name].lm
        assert (m["kind"], m["vocab_size"], m["parameters"]) == (
            lm.kind,
            len(lm.vocab),
            lm.num_parameters(),
        )
        assert m["corpus"].startswith("synthetic:") and m["gates"] == (lm.kind == "lstm")
    assert got["3gram"]["label"] == "3-gram"
    assert body["limits"]["max_tokens"] == 300


def test_score_equals_the_library(client, models):
    body = client.post("/score", json={"text": TEXT, "top_k": 4}).json()["scores"]
    for name, row in body.items():
        lm = models[name].lm
        ref = lm.score(TEXT)
        assert row["tokens"] == ref.tokens
        np.testing.assert_allclose(row["log_probs"], ref.log_probs, atol=1e-6)
        np.testing.assert_allclose(row["surprisal_bits"], ref.surprisal_bits, atol=1e-6)
        assert row["perplexity"] == pytest.approx(ref.perplexity, rel=1e-6)
        ids = lm.vocab.encode(ref.tokens)
        state = lm.start()
        for t, token in enumerate(ids.tolist()):  # ranks and alternatives, one step at a time
            dist = lm.next_log_probs(state)
            assert row["ranks"][t] == 1 + int((dist > dist[token] + 1e-9).sum())
            best = np.argsort(-dist, kind="stable")[:4]
            assert [a["token"] for a in row["top"][t]][:1] == [lm.vocab.tokens[best[0]]]
            np.testing.assert_allclose(
                [a["prob"] for a in row["top"][t]], np.exp(dist[best]), rtol=1e-5
            )
            state = lm.advance(state, token)


def test_score_batches_concurrent_requests_with_the_same_numbers(client, models):
    texts = [TEXT, "a dog sleeps", "the cats ( near the barn ) run today\n" * 3, "x y z"]
    engine = client.app.state.engine
    before = engine.stats["largest_batch"]
    engine.window = 0.5  # long enough that all four requests queue together
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda t: client.post("/score", json={"text": t, "models": ["lstm"]}).json(),
                    texts,
                )
            )
    finally:
        engine.window = 0.003
    assert engine.stats["largest_batch"] >= max(before, 2)
    for text, answer in zip(texts, answers, strict=True):
        np.testing.assert_allclose(
            answer["scores"]["lstm"]["log_probs"],
            models["lstm"].lm.score(text).log_probs,
            atol=1e-6,
        )


def test_an_empty_text_in_a_batch_is_empty_and_spoils_nothing(models):
    from seqlm.serve.compute import score_texts

    for served in models.values():
        empty, full = score_texts(served.lm, ["", TEXT])
        assert empty["tokens"] == [] and empty["perplexity"] is None
        np.testing.assert_allclose(full["log_probs"], served.lm.score(TEXT).log_probs, atol=1e-6)


def test_next_equals_the_library(client, models):
    body = client.post("/next", json={"prefix": "the old dogs near a", "k": 5}).json()["next"]
    for name, found in body.items():
        ref = models[name].lm.next_tokens("the old dogs near a", 5)
        assert [a["token"] for a in found] == [t for t, _ in ref]
        np.testing.assert_allclose([a["prob"] for a in found], [p for _, p in ref], rtol=1e-5)


@pytest.mark.parametrize("name", ["3gram", "lstm", "gru"])
def test_generate_streams_the_library_text(client, models, name):
    settings = {"prompt": "the dog", "max_tokens": 12, "temperature": 0.8, "top_k": 20, "seed": 5}
    r = client.post("/generate", json={"model": name, **settings})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    text, end = events(r)
    assert end == {"tokens": 12, "error": None}
    lm = models[name].lm
    assert text == lm.generate("the dog", 12, 0.8, 20, None, 5)


def test_gates_equal_the_probe(client, models):
    from seqlm.probe.gates import lstm_states

    r = client.post("/gates", json={"model": "lstm", "text": TEXT, "cells": ["1:3", "2:11"]})
    body = r.json()
    lm = models["lstm"].lm
    ids = np.concatenate([[lm.start_token], lm.vocab.encode(lm.tokenize(TEXT))])
    states = lstm_states(lm, ids)  # the probe's own reading, start token first
    assert body["tokens"] == lm.tokenize(TEXT) and body["units"] == [24, 12]
    for cell in body["cells"]:
        layer = states[cell["layer"] - 1]
        for key in ("input_gate", "forget_gate", "output_gate", "cell_state"):
            np.testing.assert_allclose(cell[key], layer[key][1:, cell["unit"]], atol=1e-4)
    np.testing.assert_allclose(
        body["forget_mean"][1], states[1]["forget_gate"][1:].mean(1), atol=1e-4
    )
    assert set(body["probe_cells"]) >= {"line_position", "bracket_depth"}
    top = client.post("/gates", json={"model": "lstm", "text": TEXT, "top": 3}).json()
    assert len(top["cells"]) == 3


def test_pattern_search_finds_the_span_itself(client, models):
    lm = models["lstm"].lm
    index = client.app.state.indexes["lstm"]
    assert isinstance(index, CellIndex) and len(index.ids) == 1500
    # a span of the indexed corpus, read from the same start, must match itself
    text = " ".join(lm.vocab.decode(index.ids[:40].tolist())).replace(" <eos>", "\n").strip()
    tokens = lm.tokenize(text)
    r = client.post(
        "/patterns",
        json={
            "model": "lstm",
            "text": text,
            "start": 10,
            "end": 12,
            "threshold": 0.05,
            "limit": 50,
        },
    )
    body = r.json()
    assert r.status_code == 200 and body["tokens"] == tokens and body["cells"]
    columns = [index.offsets[c["layer"] - 1] + c["unit"] for c in body["cells"]]
    on = index.values[:, columns] > round(0.05 * 127)
    assert on[10:13].all() and not on[9].any()  # the indexed span switches them on too
    assert body["matches"][0]["score"] == len(columns)
    for m in body["matches"]:  # each match's score, recounted from the index
        start = index.starts[index.split_names.index(m["split"])] + m["position"]
        before = on[start - 1] if start else np.zeros(len(columns), dtype=bool)
        assert m["score"] == (on[start : start + 3].all(axis=0) & ~before).sum()
        assert m["tokens"][m["match_start"]] == lm.vocab.tokens[index.ids[start]]


def test_sample_gives_whole_lines_with_dependency_marks(client):
    body = client.get("/sample", params={"model": "lstm", "tokens": 30, "seed": 2}).json()
    assert body["text"].endswith("\n") and len(body["tokens"]) >= 30
    from seqlm.data.text import tokenize

    assert tokenize(body["text"], "word") == body["tokens"]
    kinds, distances = body["marks"]["dep_kind"], body["marks"]["dep_distance"]
    assert len(kinds) == len(body["tokens"]) and any(kinds)
    for i, (k, d) in enumerate(zip(kinds, distances, strict=True)):
        if k == 2:  # a bracket closes what opened d tokens back
            assert body["tokens"][i - d] in "([{" and body["tokens"][i] in ")]}"


@pytest.mark.parametrize(
    "path, body, code, words",
    [
        ("/score", {"text": "a " * 1001}, 413, "characters"),
        ("/score", {"text": "a " * 400}, 413, "tokens"),
        ("/generate", {"model": "lstm", "max_tokens": 301}, 413, "max_tokens"),
        ("/score", {"text": 5}, 422, "text"),
        ("/score", {"text": "a", "top_k": 0}, 422, "top_k"),
        ("/score", {"text": "a", "path": "/etc/passwd"}, 422, "path"),
        ("/generate", {"model": "lstm", "temperature": -1}, 422, "temperature"),
        ("/generate", {"model": "lstm", "top_p": 1.5}, 422, "top_p"),
        ("/gates", {"model": "3gram", "text": "a"}, 422, "LSTM"),
        ("/gates", {"model": "lstm", "text": "a", "cells": ["3:0"]}, 422, "bad cell"),
        ("/patterns", {"model": "lstm", "text": "a b", "start": 1, "end": 9}, 422, "outside"),
        ("/score", {"text": "a", "models": ["nope"]}, 404, "unknown model"),
        ("/generate", {"model": "../../etc"}, 404, "unknown model"),
    ],
)
def test_limits_and_errors_are_one_line(client, path, body, code, words):
    r = client.post(path, json=body)
    assert r.status_code == code, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and words in detail


def test_invalid_json_is_422(client):
    r = client.post("/score", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "body: not valid JSON"


def test_full_queue_is_503_and_slow_requests_hit_the_time_limit(models):
    gate = threading.Event()
    app = create_app(models, Limits(max_pending=1, timeout_s=0.5, index_tokens=0))
    with TestClient(app) as c:
        engine = app.state.engine
        engine.submit(models["lstm"], "call", gate.wait)  # occupies the worker
        time.sleep(0.1)
        engine.submit(models["lstm"], "call", lambda: None)  # fills the queue
        r = c.post("/score", json={"text": "a dog"})
        assert r.status_code == 503 and "busy" in r.json()["detail"]
        r = c.post("/generate", json={"model": "lstm"})
        assert r.status_code == 503
        gate.set()
        time.sleep(0.2)
        engine.submit(models["lstm"], "call", lambda: time.sleep(1.0))
        time.sleep(0.1)  # the worker has taken it: the queue is empty again
        r = c.post("/score", json={"text": "a dog", "models": ["lstm"]})
        assert r.status_code == 504 and "time limit" in r.json()["detail"]


def test_a_stream_stops_at_the_time_limit(models):
    app = create_app(models, Limits(max_tokens=10**6, timeout_s=0.3, index_tokens=0))
    with TestClient(app) as c:
        start = time.perf_counter()
        r = c.post("/generate", json={"model": "lstm", "max_tokens": 10**6})
        text, end = events(r)
        assert time.perf_counter() - start < 5 and end["error"] == "time limit reached"
        assert 0 < end["tokens"] < 10**6 and text


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    assert {"/models", "/score", "/next", "/generate", "/gates", "/patterns", "/sample"} <= set(
        spec["paths"]
    )
    assert "ScoreResponse" in spec["components"]["schemas"]
    page = client.get("/")
    assert page.status_code == 200 and "<script>" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN


def test_cli_serve_binds_to_loopback_by_default():
    args = build_parser().parse_args(["serve", "m1", "m2"])
    assert args.host == "127.0.0.1" and args.models == ["m1", "m2"] and args.port == 8000


# -- a real server: batched decoding and disconnects ----------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(models):
    import uvicorn

    app = create_app(models, Limits(max_tokens=100_000, index_tokens=0))
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield app, f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_concurrent_streams_are_decoded_in_one_batch(server, models):
    import httpx

    app, url = server
    engine = app.state.engine
    steps = engine.stats["steps"]

    def one(seed):
        body = {"model": "lstm", "prompt": "the", "max_tokens": 200, "seed": seed}
        r = httpx.post(url + "/generate", json=body, timeout=60)
        return events(r)[0]

    with ThreadPoolExecutor(6) as pool:
        texts = list(pool.map(one, range(6)))
    for seed, text in enumerate(texts):  # batched decoding samples what the library samples
        assert text == models["lstm"].lm.generate("the", 200, seed=seed)
    assert engine.stats["steps"] - steps < 6 * 200 * 0.6  # far fewer steps than tokens


def test_client_that_disconnects_stops_its_generation(server):
    import httpx

    app, url = server
    engine = app.state.engine
    dropped = engine.stats["dropped"]
    body = {"model": "lstm", "prompt": "the", "max_tokens": 100_000}
    with httpx.stream("POST", url + "/generate", json=body, timeout=60) as r:
        for i, _ in enumerate(r.iter_lines()):
            if i > 10:
                break
    deadline = time.time() + 10
    while engine.streams and time.time() < deadline:
        time.sleep(0.02)
    assert not engine.streams and engine.stats["dropped"] == dropped + 1


def test_surprisal_is_in_bits(client, models):
    row = client.post("/score", json={"text": "a dog", "models": ["3gram"]}).json()
    lp = row["scores"]["3gram"]["log_probs"][0]
    assert row["scores"]["3gram"]["surprisal_bits"][0] == pytest.approx(-lp / math.log(2))


def test_cli_serves_until_stopped(models, tmp_path):
    import os
    import subprocess
    import sys

    import httpx

    port = free_port()
    lstm = str(models["lstm"].path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "seqlm",
            "serve",
            lstm,
            "--port",
            str(port),
            "--index-tokens",
            "0",
            "--threads",
            "1",
        ],
        env={**os.environ},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(300):
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/models", timeout=1).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.1)
        assert [m["name"] for m in body["models"]] == ["lstm"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize("extra, words", [([], "no such model"), (["--timeout", "0"], "timeout")])
def test_cli_serve_errors_are_one_line(capsys, models, tmp_path, extra, words):
    from seqlm.cli import main

    model = str(tmp_path / "nope") if not extra else str(models["3gram"].path)
    assert main(["serve", model, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqlm: error:") and words in err and "\n" not in err


def test_explorer_script_parses(tmp_path):
    """A syntax error blanks the whole page; node (where present) catches it in a second."""
    import shutil
    import subprocess
    from importlib import resources

    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed (the browser test covers the page too)")
    page = resources.files("seqlm.serve").joinpath("explorer.html").read_text("utf-8")
    script = tmp_path / "explorer.js"
    script.write_text(page.split("<script>")[1].split("</script>")[0], encoding="utf-8")
    result = subprocess.run([node, "--check", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
