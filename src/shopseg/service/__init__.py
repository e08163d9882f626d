"""Stage 8: a scoring service around the saved first-order models.

:func:`create_app` builds the FastAPI application (single and batch
scoring, health checks, Prometheus metrics, the OpenAPI document);
:func:`serve` runs it on uvicorn, as ``shopseg serve --model DIR`` does;
:func:`load_api_keys` reads the keys a client must send. See
``docs/service.md``.
"""

from ._app import create_app, load_service_model
from ._auth import load_api_keys
from ._server import serve

__all__ = ["create_app", "load_api_keys", "load_service_model", "serve"]
