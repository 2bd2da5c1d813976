"""ASGI middleware: a request id, one JSON log line and the metrics for every request; and the
request body limit. Plain ASGI (no BaseHTTPMiddleware) to keep per-request overhead low."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, error_body
from service.logs import ACCESS_LOGGER, request_id
from service.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
ERROR_CODE_STATE = "error_code"  # set by the error handler in the request state, for the metrics


class RequestObserver:
    """Tags each HTTP request with an id (the client's if sane), then logs and measures it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, known_model: Callable[[str], bool]):
        self.app = app
        self.metrics = metrics
        self.known_model = known_model
        self.logger = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        token = request_id.set(rid)
        scope.setdefault("state", {})
        status = 500  # unless the app starts a response
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - start)
            request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        model = scope.get("path_params", {}).get("model", "")
        model = model if self.known_model(model) else ""
        code = scope["state"].get(ERROR_CODE_STATE, "") if status >= 400 else ""
        self.metrics.observe_request(scope["method"], endpoint, model, status, seconds, code)
        self.logger.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            status,
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "request_id": request_id.get(),
                "duration_ms": round(seconds * 1000, 3),
                "endpoint": endpoint,
                "model": model or None,
            },
        )


class BodyLimit:
    """413 for a body over `max_bytes`: at once from Content-Length, or while it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            scope.setdefault("state", {})[ERROR_CODE_STATE] = PayloadTooLarge.code
            await self._reject(scope["path"], send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
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


def _request_id(offered: str | None) -> str:
    if offered is not None and _SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex
