"""`seqlm serve`: an HTTP API and a web explorer over any saved models.

    from seqlm.serve import create_app, load_models
    app = create_app(load_models(["runs/lstm", "runs/5gram"]))   # then uvicorn.run(app)

The models are loaded once at start-up and named by their directory; no request can
name a file. One worker thread runs them (`engine`), batching concurrent requests.
"""

from seqlm.serve.api import Limits, create_app
from seqlm.serve.models import ServedModel, load_models

__all__ = ["Limits", "ServedModel", "create_app", "load_models", "serve"]


def serve(app, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
