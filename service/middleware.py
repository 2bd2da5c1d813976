"""ASGI middleware: a request id, one JSON log line and the metrics for every request; and the
request body's limits, in size and in time. Plain ASGI (no BaseHTTPMiddleware), and a few
microseconds each: they run on the event loop for every request."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.bodies import byte_count
from service.errors import PayloadTooLarge, RequestTimeout, error_body
from service.logs import AccessLog, request_id
from service.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_CLOSE = (b"connection", b"close")
ERROR_CODE_STATE = "error_code"  # set by the error handler in the request state, for the metrics


class RequestObserver:
    """Tags each HTTP request with an id (the client's if sane), then logs and measures it."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        known_model: Callable[[str], bool],
        access_log: AccessLog | None = None,
        closing: Callable[[], bool] = lambda: False,
    ):
        self.app = app
        self.metrics = metrics
        self.known_model = known_model
        self.access_log = access_log or AccessLog()
        self.closing = closing  # True: every response closes its connection (a draining replica)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(header(scope, _REQUEST_ID_KEY))
        rid_header = (_REQUEST_ID_KEY, rid.encode())
        token = request_id.set(rid)
        scope.setdefault("state", {})
        status = 500  # unless the app starts a response
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = (rid_header, _CLOSE) if self.closing() else (rid_header,)
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - start, rid)
            request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, rid: str) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        model = scope.get("path_params", {}).get("model", "")
        model = model if self.known_model(model) else ""
        code = scope["state"].get(ERROR_CODE_STATE, "") if status >= 400 else ""
        self.metrics.observe_request(scope["method"], endpoint, model, status, seconds, code)
        self.access_log.record(
            scope["method"], scope["path"], status, rid, seconds, endpoint, model
        )


class BodyLimit:
    """413 for a body over `max_bytes`: at once from Content-Length, or while it streams in. 408
    (and the connection closed) for a body still incomplete `timeout` seconds after the request's
    headers: a client sending a byte at a time cannot hold a connection and a request for long."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 60.0):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = byte_count(header(scope, b"content-length") or "")
        if declared is not None and declared > self.max_bytes:
            scope.setdefault("state", {})[ERROR_CODE_STATE] = PayloadTooLarge.code
            await self._reject(scope["path"], send)
            return
        received = 0
        complete = False
        deadline = asyncio.get_running_loop().time() + self.timeout

        async def counted() -> Message:
            nonlocal received, complete
            if complete:  # only a disconnect can come now: no deadline on waiting for it
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body was not received within {self.timeout:g} s "
                    "(VAE_SERVE_BODY_TIMEOUT_S)",
                    headers={"Connection": "close"},
                ) from None
            complete = not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise PayloadTooLarge(self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"request body over {self.max_bytes} bytes (VAE_SERVE_MAX_BODY_BYTES)"

    async def _reject(self, path: str, send: Send) -> None:
        body = orjson.dumps(error_body(PayloadTooLarge.code, self._message(), path=path))
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case), without building a Headers object."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _request_id(offered: str | None) -> str:
    if offered is not None and _SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return new_request_id()


def new_request_id() -> str:
    """A request id of our own."""
    # Unique, not secret: the Mersenne Twister (seeded from os.urandom in each process; uvicorn
    # spawns its workers) with no system call per request, where uuid4 makes one.
    return f"{random.getrandbits(128):032x}"
