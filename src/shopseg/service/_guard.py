"""ASGI middleware in front of the service: keys, body size, metrics.

It runs before FastAPI parses anything, so that a client without a valid key
learns nothing but 401, whatever it sends, and an oversized body is refused
before it is read whole.
"""

import json
import time

from ._auth import KEY_HEADER, is_valid, presented_key

UNAUTHORISED = (
    f"missing or invalid API key: send a valid key in the {KEY_HEADER} header "
    "or as 'Authorization: Bearer KEY'"
)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def send_problem(send, status, detail, headers=()):
    """Send a JSON error body ``{"detail": ..., "errors": []}``."""
    body = json.dumps({"detail": detail, "errors": []}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    })
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Check the API key and the body size; count every request.

    Parameters
    ----------
    app : ASGI application
    metrics : Metrics
    api_keys : tuple of str or None
        None lets every request through.
    open_paths : frozenset of str
        Paths served without a key (health checks, the API documents).
    max_body_bytes : int
        Largest request body; a larger one gets 413.
    """

    def __init__(self, app, *, metrics, api_keys, open_paths, max_body_bytes):
        self.app = app
        self.metrics = metrics
        self.api_keys = api_keys
        self.open_paths = open_paths
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped

        async def counted_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, counted_send)
        finally:
            self.metrics.observe(
                scope["method"], self.metrics.route(scope["path"]), status,
                time.perf_counter() - started,
            )

    async def _handle(self, scope, receive, send):
        if (
            self.api_keys
            and scope["path"] not in self.open_paths
            and not is_valid(presented_key(scope["headers"]), self.api_keys)
        ):
            await send_problem(send, 401, UNAUTHORISED)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return

        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await send_problem(send, 413, self._too_large())
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await send_problem(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self):
        return (
            f"the request body is larger than {self.max_body_bytes:,} bytes; "
            "send fewer lines per request"
        )
