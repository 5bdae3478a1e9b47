"""The HTTP API (FastAPI) and the explorer page, over the models fixed at start-up.

Errors are one line in `detail`: 404 unknown model, 413 text or generation too long,
422 an invalid field (named), 503 queue full or index not ready, 504 over the time limit.
"""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from seqlm.io import SeqlmError
from seqlm.serve import schemas as s
from seqlm.serve.cells import CellIndex, gates_view, has_gates, no_gates, pattern_search
from seqlm.serve.engine import Busy, Engine
from seqlm.serve.models import ServedModel, sample_text


@dataclass
class Limits:
    max_chars: int = 20_000  # characters of text per request
    max_tokens: int = 2_000  # tokens per request, scored or generated
    timeout_s: float = 30.0  # per request (a stream: its whole generation)
    max_pending: int = 64  # queued requests before 503
    max_streams: int = 32  # open generation streams before 503
    window_ms: float = 3.0  # how long the worker waits for a batch to fill
    index_tokens: int = 20_000  # corpus tokens in the pattern-search index (0: none)
    cache_dir: Path | None = None  # where the index is kept (default: seqlm's cache)

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_tokens", "timeout_s", "max_pending", "max_streams"):
            if not getattr(self, name) > 0:
                raise SeqlmError(f"{name.replace('_', ' ')} must be > 0, got {getattr(self, name)}")
        if self.window_ms < 0 or self.index_tokens < 0:
            raise SeqlmError("the batching window and the index size must be >= 0")


def create_app(models: dict[str, ServedModel], limits: Limits | None = None) -> FastAPI:
    limits = limits or Limits()
    engine = Engine(
        limits.window_ms / 1000, max_pending=limits.max_pending, max_streams=limits.max_streams
    )
    indexes: dict[str, CellIndex | str] = {}  # name -> index, or why there is none yet

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for model in models.values():
            if has_gates(model) and limits.index_tokens > 0:
                indexes[model.name] = "the cell-state index is being built; retry in a moment"
                threading.Thread(
                    target=_build_index, args=(model, limits, indexes), daemon=True
                ).start()
        yield
        engine.close()

    app = FastAPI(
        title="seqlm",
        summary="What n-gram, RNN, LSTM and GRU models know, token by token",
        lifespan=lifespan,
    )
    app.state.engine, app.state.indexes = engine, indexes

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            return JSONResponse({"detail": "body: not valid JSON"}, 422)
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
        message = " ".join(str(first.get("msg", "invalid")).split())  # one line
        return JSONResponse({"detail": f"{where}: {message}"}, 422)

    def pick(name: str) -> ServedModel:
        if name not in models:
            raise HTTPException(404, f"unknown model {name!r} (loaded: {', '.join(models)})")
        return models[name]

    def check_text(text: str, chosen: list[ServedModel], field: str = "text") -> None:
        if len(text) > limits.max_chars:
            raise HTTPException(
                413, f"{field} has {len(text)} characters; the limit is {limits.max_chars}"
            )
        for m in chosen:
            n = len(m.lm.tokenize(text))
            if n > limits.max_tokens:
                raise HTTPException(
                    413, f"{field} has {n} tokens for {m.name}; the limit is {limits.max_tokens}"
                )

    async def run(model: ServedModel, task: str, payload):
        try:
            return await engine.run(model, task, payload, limits.timeout_s)
        except Busy as e:
            raise HTTPException(503, str(e)) from None
        except TimeoutError:
            raise HTTPException(504, f"over the time limit of {limits.timeout_s:g} s") from None
        except SeqlmError as e:
            raise HTTPException(422, str(e)) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def explorer() -> str:
        return resources.files("seqlm.serve").joinpath("explorer.html").read_text("utf-8")

    @app.get("/models", response_model=s.ModelsResponse)
    async def list_models():
        return {
            "models": [{**m.describe(), "gates": has_gates(m)} for m in models.values()],
            "limits": {
                "max_chars": limits.max_chars,
                "max_tokens": limits.max_tokens,
                "timeout_s": limits.timeout_s,
            },
        }

    @app.post("/score", response_model=s.ScoreResponse)
    async def score(body: s.ScoreRequest):
        chosen = [pick(n) for n in body.models or list(models)]
        check_text(body.text, chosen)
        rows = await asyncio.gather(*(run(m, "score", (body.text, body.top_k)) for m in chosen))
        return {"scores": {m.name: row for m, row in zip(chosen, rows, strict=True)}}

    @app.post("/next", response_model=s.NextResponse)
    async def next_tokens(body: s.NextRequest):
        chosen = [pick(n) for n in body.models or list(models)]
        check_text(body.prefix, chosen, "prefix")
        found = await asyncio.gather(*(run(m, "next", (body.prefix, body.k)) for m in chosen))
        return {"next": {m.name: f for m, f in zip(chosen, found, strict=True)}}

    @app.post("/generate", responses={200: {"content": {"text/event-stream": {}}}})
    async def generate(body: s.GenerateRequest):
        """Server-sent events: `data: {"text": piece}` per token, then `event: end`."""
        model = pick(body.model)
        check_text(body.prompt, [model], "prompt")
        if body.max_tokens > limits.max_tokens:
            raise HTTPException(
                413, f"max_tokens {body.max_tokens} is over the limit of {limits.max_tokens}"
            )
        settings = (
            body.prompt,
            body.max_tokens,
            body.temperature,
            body.top_k,
            body.top_p,
            body.seed,
        )
        try:
            stream = engine.open_stream(model, settings, limits.timeout_s)
        except Busy as e:
            raise HTTPException(503, str(e)) from None

        async def events():
            try:
                done = False
                while not done:  # one event per token; a backlog goes out in one write
                    pieces = [await stream.queue.get()]
                    while not stream.queue.empty():
                        pieces.append(stream.queue.get_nowait())
                    done = pieces[-1] is None
                    chunk = "".join(
                        f"data: {json.dumps({'text': p})}\n\n" for p in pieces if p is not None
                    )
                    if done:
                        end = {"tokens": stream.produced, "error": stream.error}
                        chunk += f"event: end\ndata: {json.dumps(end)}\n\n"
                    yield chunk
            finally:  # also when the client disconnects: the worker drops the stream
                engine.close_stream(stream)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.post("/gates", response_model=s.GatesResponse)
    async def gates(body: s.GatesRequest):
        model = pick(body.model)
        if not has_gates(model):
            raise HTTPException(422, no_gates(model))
        check_text(body.text, [model])
        return await run(model, "call", lambda: gates_view(model, body.text, body.cells, body.top))

    @app.post("/patterns", response_model=s.PatternResponse)
    async def patterns(body: s.PatternRequest):
        model = pick(body.model)
        if not has_gates(model):
            raise HTTPException(422, no_gates(model, "pattern search needs"))
        check_text(body.text, [model])
        index = indexes.get(model.name, "pattern search is off (--index-tokens 0)")
        if isinstance(index, str):
            raise HTTPException(503 if "being built" in index else 422, index)
        if body.layer is not None and body.layer > len(index.sizes):
            raise HTTPException(422, f"layer: {model.name} has {len(index.sizes)} layers")
        return await run(
            model,
            "call",
            lambda: pattern_search(
                model,
                index,
                body.text,
                body.start,
                body.end,
                body.threshold,
                body.layer,
                body.limit,
            ),
        )

    @app.get("/sample", response_model=s.SampleResponse)
    async def sample(
        model: str,
        split: str = Query("valid", pattern="^(train|valid|test)$"),
        tokens: int = Query(60, ge=1, le=1000),
        seed: int = Query(0, ge=0),
    ):
        """Whole lines of the model's training corpus (with dependency marks if synthetic)."""
        chosen = pick(model)
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(sample_text, chosen, split, tokens, seed), limits.timeout_s
            )
        except SeqlmError as e:
            raise HTTPException(422, f"model: {e}") from None
        except TimeoutError:
            raise HTTPException(504, f"over the time limit of {limits.timeout_s:g} s") from None

    return app


def _build_index(model: ServedModel, limits: Limits, indexes: dict) -> None:
    """In a thread of its own, once per model and corpus; kept on disk for the next start."""
    from seqlm.data.corpus import cache_root

    if model.corpus() is None:
        indexes[model.name] = f"{model.name} records no corpus that can be loaded"
        return
    cache = limits.cache_dir or cache_root().parent / "serve"
    try:
        indexes[model.name] = CellIndex.build_or_load(model, limits.index_tokens, cache)
    except Exception as e:  # noqa: BLE001 - reported by /patterns
        indexes[model.name] = f"the cell-state index could not be built: {e}"
