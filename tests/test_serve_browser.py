"""The explorer in a real browser: Playwright driving Debian's headless Chromium (no browser
download, no network) against `seqlm serve` on a free loopback port."""

import math
import re
import shutil
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="seqlm serve needs fastapi (pip install -e '.[test]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")

from serve_models import make_models  # noqa: E402

from seqlm.serve import Limits, create_app, load_models  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TEXT = "the old dogs near a river chase a bird\nthe cat ( with a hat ) sees every fox"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import torch
    import uvicorn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    paths = make_models(tmp_path_factory.mktemp("models"))
    models = load_models([str(p) for p in paths.values()])
    limits = Limits(index_tokens=1000, cache_dir=tmp_path_factory.mktemp("index"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(create_app(models, limits), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", models
    srv.should_exit = True
    thread.join(timeout=10)
    torch.set_num_threads(threads)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")
def test_explorer_scores_hovers_shows_gates_and_streams(server, tmp_path):
    url, models = server
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        # it opens on a sentence of the models' own validation text, already scored
        page.wait_for_function("document.querySelectorAll('#rows .tok').length > 0")
        opening = page.input_value("#text")
        assert opening == page.evaluate("state.sample.text") and opening.strip()
        assert page.evaluate("state.sample.split") == "valid"
        ngram_row = page.locator("#modelinfo tr", has_text="3gram").inner_text()
        assert "\u2013" not in ngram_row  # an n-gram's valid and test perplexity are filled
        page.fill("#text", TEXT)
        page.click("#score")
        # the opening text's scoring may answer after ours: the page keeps the latest only
        page.wait_for_function("text => state.scores && state.scores.text === text", arg=TEXT)
        tokens = models["lstm"].lm.tokenize(TEXT)
        cells = page.locator("#rows .tok[data-model='lstm']")
        assert cells.count() == len(tokens)  # one aligned cell per token and model
        assert page.locator("#rows .tok[data-model='3gram']").count() == len(tokens)
        colours = {
            cells.nth(i).evaluate("e => getComputedStyle(e).backgroundColor")
            for i in range(len(tokens))
        }
        assert len(colours) > 3  # coloured by surprisal, not uniform

        # the tooltip's probability is the one the library gives that token
        t = 7  # "chase", agreeing with "dogs" five tokens back
        cells.nth(t).hover()
        page.wait_for_selector("#tooltip .pvalue")
        shown = float(page.inner_text("#tooltip .pvalue"))
        expected = math.exp(models["lstm"].lm.score(TEXT).log_probs[t])
        assert shown == pytest.approx(expected, rel=1e-5)
        assert tokens[t] in page.inner_text("#tooltip")
        page.screenshot(path=str(tmp_path / "scores.png"), full_page=True)

        # the difference row: bits the first model (the LSTM) saved over the 3-gram
        page.select_option("#diffa", "lstm")
        page.select_option("#diffb", "3gram")
        diff = page.locator("#rows .col .diff")
        lstm, ngram = (models[n].lm.score(TEXT).surprisal_bits for n in ("lstm", "3gram"))
        for i in (0, t, len(tokens) - 1):
            assert float(diff.nth(i + 1).inner_text()) == pytest.approx(
                ngram[i] - lstm[i], abs=0.051
            )
        assert "needed fewer bits (better)" in page.inner_text("#diffkey")  # the row's key

        page.select_option("#mode", "rank")  # GLTR's colours
        rank_colours = {
            cells.nth(i).evaluate("e => getComputedStyle(e).backgroundColor")
            for i in range(len(tokens))
        }
        assert rank_colours <= {
            "rgb(143, 224, 143)",
            "rgb(255, 229, 122)",
            "rgb(255, 154, 138)",
            "rgb(200, 162, 240)",
        }

        page.click("#sample")  # a sample of the synthetic corpus: far dependencies marked
        page.wait_for_function("document.querySelectorAll('#rows .mark').length > 1")
        marks = page.evaluate("state.sample.marks.dep_kind")
        marked = [m for m in page.locator("#rows .col .mark").all_inner_texts()[1:] if m.strip()]
        assert len(marked) == sum(k > 0 for k in marks) > 0

        page.click("#gates")
        page.wait_for_selector("table.heat")
        rows = page.locator("table.heat tr")
        assert rows.count() == 1 + 2 + 8  # tokens, forget gate of each layer, 8 cells
        assert page.locator("table.heat tr.tokens td").count() == len(
            page.evaluate("state.gates.tokens")
        )
        assert "line position" in page.inner_text("#probecells")
        page.locator("tr.tokens td").nth(2).click()
        page.locator("tr.tokens td").nth(4).click(modifiers=["Shift"])
        page.fill("#threshold", "0.1")
        page.click("#search")
        page.wait_for_selector("#matches .info")
        assert re.search(r"\d+ cells switch on|no cell switches on", page.inner_text("#matches"))

        page.select_option("#genmodel", "lstm")
        page.fill("#prompt", "the dog")
        page.fill("#maxtokens", "15")
        page.fill("#seed", "4")
        page.click("#generate")
        page.wait_for_selector("#generated[data-done='1']")
        expected_text = models["lstm"].lm.generate("the dog", 15, seed=4)
        assert page.inner_text("#generated") == ("the dog" + expected_text).strip()
        page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
        browser.close()
    assert not errors
    assert (tmp_path / "explorer.png").stat().st_size > 10_000
