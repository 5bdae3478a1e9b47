"""Load on `seqlm serve`: 8 concurrent clients scoring 100-token texts, and 8 generation
streams against one.

    python bench/serve_load.py [--model runs/ptb-lstm] [--clients 8] [--requests 160]
                               [--stream-tokens 100] [--threads 2] [--out FILE]

The server runs as `seqlm serve` in a subprocess on a free loopback port; the clients
are asyncio tasks of one httpx client here. /score: `--requests` texts of 100 tokens
(PTB test, or the model's own corpus) after a warm-up, `--clients` in flight at once:
requests/s and p50/p99 latency, and the same with one client for contrast. /generate:
one stream of `--stream-tokens` tokens, then `--clients` streams at once (temperature 1,
top-k 50), `--rounds` times alternately: median tokens/s each way. Without `--model` a freshly initialised model of the PTB
preset's shape (2x650 LSTM, adaptive softmax, PTB's 10k vocabulary) is timed; speed does
not depend on the weights. Bounded: every phase stops after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from seqlm.data import load_corpus
from seqlm.data.text import detokenize
from seqlm.loading import trained_on

# the project's data beside the checkout unless $SEQLM_DATA says otherwise
os.environ.setdefault("SEQLM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


def fresh_ptb_model(folder: Path) -> Path:
    from seqlm.nn import ModelConfig, RecurrentLM
    from seqlm.nn.checkpoint import save_recurrent
    from seqlm.train.config import PRESETS

    corpus = load_corpus("ptb")
    p = PRESETS["ptb"]
    config = ModelConfig(
        cell="lstm",
        vocab_size=len(corpus.vocab),
        embed=p["embed"],
        hidden=p["hidden"],
        layers=p["layers"],
        adaptive_cutoffs=p["adaptive_cutoffs"],
    )
    model = RecurrentLM(config, corpus.vocab)
    model.reset_parameters(0)
    return save_recurrent(model, folder / "ptb-2x650-fresh", {"corpus": corpus.spec.to_json()})


def texts_of(model: Path, n: int, length: int = 100) -> list[str]:
    """`n` windows of `length` tokens of the test split, as text."""
    spec = trained_on(model)
    corpus = load_corpus(spec if spec is not None else "ptb")
    ids = np.asarray(corpus["test"])
    starts = np.random.default_rng(0).integers(0, len(ids) - length, n)
    # a window ending in <eos> already closes its line; tokenizing adds none then
    return [detokenize(corpus.vocab.decode(ids[s : s + length]), corpus.level) for s in starts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [
        sys.executable,
        "-m",
        "seqlm",
        "serve",
        str(model),
        "--port",
        str(port),
        "--index-tokens",
        "0",
        "--queue",
        "256",
        "--threads",
        str(threads),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/models", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise SystemExit(f"server failed: {proc.stderr.read().decode()[-500:]}") from None
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start within 120 s")


async def score_load(url: str, texts: list[str], clients: int, max_seconds: float) -> dict:
    latencies: list[float] = []
    queue = list(texts)
    deadline = time.perf_counter() + max_seconds

    async def client(http: httpx.AsyncClient) -> None:
        while queue and time.perf_counter() < deadline:
            text = queue.pop()
            start = time.perf_counter()
            r = await http.post(url + "/score", json={"text": text, "top_k": 5})
            r.raise_for_status()
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(timeout=60) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - start
    ms = sorted(x * 1000 for x in latencies)
    return {
        "requests": len(ms),
        "rps": len(ms) / wall,
        "p50": statistics.median(ms),
        "p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
    }


async def stream_load(url: str, streams: int, tokens: int, max_seconds: float) -> dict:
    async def one(http: httpx.AsyncClient, seed: int) -> int:
        body = {
            "model": MODEL_NAME,
            "prompt": "the",
            "max_tokens": tokens,
            "top_k": 50,
            "seed": seed,
        }
        got = 0
        async with http.stream("POST", url + "/generate", json=body) as r:
            async for line in r.aiter_lines():
                got += line.startswith('data: {"text"')
        return got

    async with httpx.AsyncClient(timeout=max_seconds) as http:
        start = time.perf_counter()
        counts = await asyncio.gather(*(one(http, s) for s in range(streams)))
        wall = time.perf_counter() - start
    return {"tokens": sum(counts), "tokens_per_s": sum(counts) / wall, "seconds": wall}


MODEL_NAME = ""


def median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["tokens_per_s"])[len(runs) // 2]


def main() -> None:
    global MODEL_NAME
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model directory (default: a fresh PTB-shaped LSTM)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=160, help="/score requests (100 tokens)")
    parser.add_argument("--stream-tokens", type=int, default=100, help="tokens per stream")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the server (default 1: on a shared 2-core "
        "machine more threads contend)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="generation rounds (1 stream, then all); medians reported",
    )
    parser.add_argument("--max-seconds", type=float, default=120, help="per phase")
    parser.add_argument("--out", help="also write the report here")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else fresh_ptb_model(Path(tmp))
        MODEL_NAME = model.name.split(".")[0]
        texts = texts_of(model, args.requests + args.clients)
        port = free_port()
        server = start_server(model, port, args.threads)
        url = f"http://127.0.0.1:{port}"
        try:
            info = httpx.get(url + "/models").json()["models"][0]
            run = asyncio.run
            run(score_load(url, texts[: args.clients], args.clients, args.max_seconds))  # warm-up
            many = run(score_load(url, texts[args.clients :], args.clients, args.max_seconds))
            one = run(score_load(url, texts[: args.clients * 2], 1, args.max_seconds))
            singles, multis = [], []
            for _ in range(args.rounds):  # alternated: a shared machine's load drifts
                singles.append(run(stream_load(url, 1, args.stream_tokens, args.max_seconds)))
                multis.append(
                    run(stream_load(url, args.clients, args.stream_tokens, args.max_seconds))
                )
            single = median_run(singles)
            multi = median_run(multis)
        finally:
            server.terminate()
            server.wait(timeout=30)
    lines = [
        f"model: {args.model or 'fresh PTB-shaped 2x650 LSTM (adaptive softmax)'} "
        f"({info['kind']}, {info['parameters']:,} parameters, vocabulary {info['vocab_size']:,})",
        f"server: seqlm serve, {args.threads} torch threads, {os.cpu_count()} CPUs visible; "
        f"clients on the same machine; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after",
        f"/score, 100-token texts, {args.clients} clients: {many['requests']} requests, "
        f"{many['rps']:.1f} requests/s, p50 {many['p50']:.0f} ms, p99 {many['p99']:.0f} ms",
        f"/score, 1 client: {one['rps']:.1f} requests/s, p50 {one['p50']:.0f} ms",
        f"/generate, 1 stream: {single['tokens_per_s']:.1f} tokens/s "
        f"({single['tokens']} tokens in {single['seconds']:.1f} s; median of {args.rounds})",
        f"/generate, {args.clients} streams: {multi['tokens_per_s']:.1f} tokens/s in all "
        f"({multi['tokens']} tokens in {multi['seconds']:.1f} s), "
        f"{multi['tokens_per_s'] / single['tokens_per_s']:.1f}x one stream",
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
