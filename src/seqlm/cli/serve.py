"""`seqlm serve MODEL [MODEL...]`: the HTTP API and the web explorer."""

from __future__ import annotations

import argparse
import logging

from seqlm.cli.common import bounded
from seqlm.io import SeqlmError
from seqlm.settings import MAX_THREADS

log = logging.getLogger("seqlm.cli")


def register(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="an HTTP API and a web explorer over saved models",
        description="Serve saved models over HTTP: /score, /next, /generate (streamed), "
        "/gates, /patterns, and at / an explorer page that colours every token by how "
        "surprised each model was. Binds to loopback unless --host says otherwise.",
    )
    serve.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="model directories or ARPA files (fixed for the server's life)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=bounded(1, 65535), default=8000, help="port (default 8000)")
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (repeatable; '*': any). By default "
        "only the bound address (any loopback name on loopback) is answered: other Host "
        "headers get 400, which keeps web pages from reaching the API by DNS rebinding",
    )
    serve.add_argument(
        "--max-chars",
        type=int,
        default=20_000,
        metavar="N",
        help="characters per request (default 20000)",
    )
    serve.add_argument(
        "--max-tokens",
        type=int,
        default=2_000,
        metavar="N",
        help="tokens per request, scored or generated (default 2000)",
    )
    serve.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="seconds per request (default 30)"
    )
    serve.add_argument(
        "--queue",
        type=int,
        default=64,
        metavar="N",
        help="queued requests before answering 503 (default 64)",
    )
    serve.add_argument(
        "--index-tokens",
        type=int,
        default=20_000,
        metavar="N",
        help="corpus tokens indexed for LSTM pattern search (default 20000; 0: none)",
    )
    serve.add_argument(
        "--threads",
        type=bounded(1, MAX_THREADS),
        metavar="N",
        help="torch threads for the models (default: torch's choice)",
    )
    serve.add_argument(
        "--evaluate", action="store_true", help="compute each model's test perplexity at start-up"
    )
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    try:
        from seqlm.serve import Limits, allowed_hosts, create_app, listen, load_models, serve
    except ImportError as e:
        raise SeqlmError(
            f"seqlm serve needs fastapi and uvicorn ({e}): pip install 'seqlm[serve]'"
        ) from None

    hosts = allowed_hosts(args.host, args.allow_host)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    limits = Limits(
        max_chars=args.max_chars,
        max_tokens=args.max_tokens,
        timeout_s=args.timeout,
        max_pending=args.queue,
        index_tokens=args.index_tokens,
    )
    models = load_models(args.models, evaluate_test=args.evaluate)
    sock = listen(args.host, args.port)  # a port in use: one line, not uvicorn's log
    names = ", ".join(f"{name} ({m.kind})" for name, m in models.items())
    log.info("serving %s at http://%s:%d/", names, args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("seqlm: warning: listening on %s: reachable from other machines", args.host)
    serve(create_app(models, limits), args.host, args.port, hosts, sock=sock)
