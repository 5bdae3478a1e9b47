"""`seqlm serve`: an HTTP API and a web explorer over any saved models.

    from seqlm.serve import create_app, load_models
    app = create_app(load_models(["runs/lstm", "runs/5gram"]))   # then uvicorn.run(app)

The models are loaded once at start-up and named by their directory; no request can
name a file. One worker thread runs them (`engine`), batching concurrent requests.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from seqlm.io import SeqlmError
from seqlm.serve.api import Limits, create_app
from seqlm.serve.models import ServedModel, load_models

__all__ = [
    "Limits",
    "ServedModel",
    "allowed_hosts",
    "create_app",
    "listen",
    "load_models",
    "serve",
]


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
WILDCARD = ("0.0.0.0", "::", "")


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> list[str]:
    """The names a request's Host header may carry: the bound address (any loopback name
    for loopback; this machine's names for all interfaces) and `extra` ('*' for any).
    Other names are refused (400), so a web page that rebinds its own name to this
    address (DNS rebinding) cannot drive the API from a browser."""
    for name in extra:
        if not name or "*" in name[1:] or (name.startswith("*") and name[:2] not in ("*", "*.")):
            raise SeqlmError(f"--allow-host {name!r}: a host name, '*.domain' or '*'")
    if host in LOOPBACK:
        names = list(LOOPBACK)
    elif host in WILDCARD:
        names = [*LOOPBACK, socket.gethostname(), socket.getfqdn()]
    else:
        names = [host, f"[{host}]" if ":" in host else host]
    return sorted({n.lower() for n in [*names, *extra]})


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or one line saying why not (in use, no such address)."""
    if not 0 <= port <= 65535:
        raise SeqlmError(f"--port must be in [0, 65535], got {port}")
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as e:
        why = os.strerror(e.errno) if (e.errno or 0) > 0 else (e.strerror or str(e))
        raise SeqlmError(f"cannot listen on {host}:{port}: {why.lower()}") from None


def serve(
    app,
    host: str = "127.0.0.1",
    port: int = 8000,
    allow_hosts: Sequence[str] = (),
    sock: socket.socket | None = None,
) -> None:
    """Run the app with uvicorn until interrupted, answering only requests whose Host
    header names this server (`allowed_hosts`); `sock`: already bound by `listen`."""
    import uvicorn
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    sock = sock or listen(host, port)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host, allow_hosts))
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
