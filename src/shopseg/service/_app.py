"""The FastAPI application: routes, error bodies, startup and shutdown."""

import asyncio

from fastapi import Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from .._version import __version__
from ..exceptions import ModelInputError, ShopsegError
from ..predict import SavedModel, load_model
from ._auth import KEY_HEADER
from ._guard import Guard
from ._metrics import Metrics
from ._schemas import (
    IDENTIFIER,
    TEXT,
    TIMESTAMP,
    BatchForecast,
    Forecast,
    Health,
    Problem,
    request_models,
)
from ._scorer import Busy, Scorer, public_message

#: Defaults of the request limits.
MAX_LINES = 1_000
MAX_BATCH_LINES = 20_000
MAX_BODY_BYTES = 4 * 1024 * 1024

SCORE = "/v1/score"
SCORE_BATCH = "/v1/score/batch"
LIVE = "/health/live"
READY = "/health/ready"
METRICS = "/metrics"
DOCS = "/docs"
OPENAPI = "/openapi.json"

#: Where the documents page finds Swagger UI: served by the service itself,
#: from the files of the fastapi-offline package, so that the page works
#: without reaching a CDN.
DOCS_ASSETS = DOCS + "/assets"
DOCS_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")

#: Paths served without an API key.
OPEN_PATHS = frozenset({
    LIVE, READY, DOCS, OPENAPI, DOCS + "/oauth2-redirect",
    *(f"{DOCS_ASSETS}/{name}" for name in DOCS_FILES),
})

INTERNAL_ERROR = (
    "internal error while handling the request; it was logged by the service"
)

DESCRIPTION = """\
Forecasts a new customer's next year from their first order: spend with an
interval, the probability of buying again, and the likely segment. The
forecasts are those of `shopseg predict` on the same lines.

Send the order lines with the columns of a batch file. When the service
requires API keys, send one in the `X-API-Key` header (or as
`Authorization: Bearer KEY`); the health checks and these documents need
none.
"""


def load_service_model(model_dir):
    """Load a model folder, turning any failure into one clear error.

    Parameters
    ----------
    model_dir : str or Path
        The model folder, or the ``--out`` folder of ``shopseg run``.

    Returns
    -------
    shopseg.predict.SavedModel

    Raises
    ------
    ShopsegError
        When the folder is missing, incomplete, changed or unreadable.
    """
    try:
        return load_model(model_dir)
    except ShopsegError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise ModelInputError(
            f"{model_dir}: the model folder cannot be loaded "
            f"({type(exc).__name__}: {reason}); it is damaged or was written "
            "by another version of shopseg. Train it again with 'shopseg run "
            "FILE ... --out DIR' and give --model DIR"
        ) from exc


def _errors(status, *extra):
    codes = {
        400: "The body cannot be read (not UTF-8, or nested too deeply).",
        413: "Request body too large.",
        422: "Invalid request: the errors name each field.",
        500: "Internal error (no detail is given out).",
        503: "Too many orders waiting; retry after a moment.",
        **{code: text for code, text in extra},
    }
    return {code: {"model": Problem, "description": codes[code]} for code in status}


def _unreadable_body(cause):
    """Why FastAPI could not decode a JSON body, from the error it met.

    FastAPI answers invalid JSON with a validation error (422) but any other
    failure with a bare 400: among them bytes that are not UTF-8, and arrays
    or objects nested so deep (some hundreds of levels) that the standard
    library's parser gives up with RecursionError.
    """
    if isinstance(cause, RecursionError):
        return (
            "the body is JSON nested too deeply to be read: send an object "
            "whose 'lines' list holds one object per order line"
        )
    if isinstance(cause, UnicodeDecodeError):
        return "the body cannot be read: send JSON encoded in UTF-8"
    return "the body cannot be read as JSON: send JSON encoded in UTF-8"


def _field(loc):
    """``("body", "lines", 0, "price")`` as ``"lines[0].price"``."""
    parts = [part for part in loc if part != "body"] or ["body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


#: What a value failing each pattern of the schema lacks, in words.
_PATTERN_MESSAGES = {
    TIMESTAMP: "is not a local date and time without UTC offset; write e.g. "
    "'2011-03-01T09:30:00'",
    IDENTIFIER: "is blank or holds control characters",
    TEXT: "holds control characters",
}


def _message(error, field):
    """One validation error in words a shop's developer can act on."""
    kind = error.get("type")
    if kind == "json_invalid":
        return "the body is not valid JSON"
    if field == "body" and kind in ("dict_type", "model_attributes_type"):
        return "the body must be a JSON object, sent as application/json"
    pattern = (error.get("ctx") or {}).get("pattern")
    if kind == "string_pattern_mismatch" and pattern in _PATTERN_MESSAGES:
        shown = repr(str(error.get("input"))[:40])
        return f"{shown} {_PATTERN_MESSAGES[pattern]}"
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def _validation_problem(exc):
    errors = []
    for error in exc.errors():
        field = _field(error.get("loc", ()))
        message = _message(error, field)
        if error.get("type") == "json_invalid":
            field = "body"
        errors.append({"field": field, "message": message})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return {"detail": f"invalid request: {summary}{more}", "errors": errors}


def _problem(status, detail, headers=None):
    return JSONResponse(
        {"detail": detail, "errors": []}, status_code=status, headers=headers
    )


def create_app(
    model_dir,
    api_keys=None,
    max_lines=MAX_LINES,
    max_body_bytes=MAX_BODY_BYTES,
    *,
    max_batch_lines=MAX_BATCH_LINES,
    max_batch=128,
    max_waiting=2_000,
):
    """Build the scoring service around a saved first-order model.

    The model is loaded and checked on one order here, once; a missing or
    damaged model folder raises before any request is served.

    Parameters
    ----------
    model_dir : str or Path or SavedModel
        The model folder, the ``--out`` folder of ``shopseg run`` holding it
        as ``model``, or a model already loaded.
    api_keys : sequence of str, default=None
        Keys a client must send; None serves every client.
    max_lines : int, default=1000
        Most lines of one order.
    max_body_bytes : int, default=4 MiB
        Largest request body.
    max_batch_lines : int, default=20000
        Most lines of a batch request.
    max_batch : int, default=128
        Most single orders scored in one model call.
    max_waiting : int, default=2000
        Most single orders waiting; more get 503.

    Returns
    -------
    fastapi.FastAPI

    Raises
    ------
    ShopsegError
        When the model folder is missing, damaged or cannot score.
    """
    saved = model_dir if isinstance(model_dir, SavedModel) else (
        load_service_model(model_dir)
    )
    metrics = Metrics([SCORE, SCORE_BATCH, LIVE, READY, METRICS, DOCS, OPENAPI])
    scorer = Scorer(saved, max_batch=max_batch, max_waiting=max_waiting,
                    on_batch=metrics.observe_batch)
    scorer.start()
    metrics.model.labels(scorer.version).set(1)
    Order, OrderBatch = request_models(max_lines, max_batch_lines)

    app = FastAPIOffline(
        title="shopseg scoring service",
        version=__version__,
        description=DESCRIPTION,
        docs_url=DOCS,
        static_url=DOCS_ASSETS,
        openapi_url=OPENAPI,
        redoc_url=None,
    )
    app.state.scorer = scorer
    app.state.metrics = metrics

    protected = []
    unauthorised = ()
    if api_keys:
        key_header = APIKeyHeader(name=KEY_HEADER, auto_error=False)
        bearer = HTTPBearer(auto_error=False)

        # Only for the OpenAPI document and the docs' "Authorize" button:
        # the keys are checked by Guard, before the body is read.
        async def documented_keys(
            key=Security(key_header), token=Security(bearer)
        ):
            return None

        protected = [Security(documented_keys)]
        unauthorised = ((401, "Missing or invalid API key."),)

    auth_errors = (401,) if api_keys else ()

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError):
        return JSONResponse(_validation_problem(exc), status_code=422)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException):
        detail = str(exc.detail)
        if exc.status_code == 400:  # FastAPI could not decode the body
            detail = _unreadable_body(exc.__cause__)
        return _problem(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception):
        return _problem(500, INTERNAL_ERROR)

    @app.post(
        SCORE, response_model=Forecast, dependencies=protected, tags=["scoring"],
        summary="Forecast one new customer from their first order",
        responses=_errors((*auth_errors, 400, 413, 422, 500, 503), *unauthorised),
    )
    async def score(order: Order):
        try:
            future = scorer.submit(order.lines)
        except Busy as exc:
            return _problem(503, str(exc), {"Retry-After": "1"})
        try:
            return await asyncio.wrap_future(future)
        except ShopsegError as exc:
            return _problem(422, public_message(exc))

    @app.post(
        SCORE_BATCH, response_model=BatchForecast, dependencies=protected,
        tags=["scoring"],
        summary="Forecast every customer of many first orders, as in a batch",
        responses=_errors((*auth_errors, 400, 413, 422, 500), *unauthorised),
    )
    async def score_batch(batch: OrderBatch):
        try:
            forecasts = await run_in_threadpool(scorer.score_batch, batch.lines)
        except ShopsegError as exc:
            return _problem(422, public_message(exc))
        return {"model_version": scorer.version, "forecasts": forecasts}

    def health(status):
        return {
            "status": status,
            "model_version": scorer.version,
            "model_created_at": scorer.created_at,
        }

    @app.get(LIVE, response_model=Health, tags=["health"],
             summary="Liveness: the process answers")
    async def live():
        return health("alive")

    @app.get(
        READY, response_model=Health, tags=["health"],
        summary="Readiness: the model is loaded and the scorer runs",
        responses={503: {"model": Health, "description": "Not ready."}},
    )
    async def ready():
        if not scorer.ready:
            return JSONResponse(health("not ready"), status_code=503)
        return health("ready")

    @app.get(
        METRICS, dependencies=protected, tags=["health"],
        summary="Metrics in the Prometheus text format",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                  "description": "Prometheus text format."},
            **_errors(auth_errors, *unauthorised),
        },
    )
    async def metrics_text():
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    app.add_middleware(
        Guard, metrics=metrics, api_keys=tuple(api_keys) if api_keys else None,
        open_paths=OPEN_PATHS, max_body_bytes=max_body_bytes,
    )
    return app
