"""The HTTP guard: HTTP/1.1 with the limits of a server that faces the internet: uvicorn's httptools
protocol (through service.uvicorn_internals, the one place that knows uvicorn's private parts), plus
bounded request lines and header blocks, a deadline for a request's headers, and our JSON error
body wherever the server answers by itself (a malformed request, a limit, a connection flood).

uvicorn bounds none of these by itself: httptools buffers a header of any size, a connection that
never sends a byte is kept forever, and its own 400 and 503 are plain text. The limits follow nginx
and Go (8 KiB request line, 16 KiB of headers in at most 100 fields) and answer as they do: 414 for
a request line over the limit, 431 for headers, 408 for headers that do not arrive in time. The
body's deadline needs the app (it is read by the app): see `service.middleware.BodyLimit`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from service.errors import Overloaded, ServiceError, error_body
from service.middleware import REQUEST_ID_HEADER, new_request_id
from service.uvicorn_internals import STATUS_LINE, Config, HttpToolsProtocol, ServerState

logger = logging.getLogger("vae_serve.http")
# A request refused for overload is answered after this pause: a client that resends at once (as
# many do, whatever Retry-After says) then comes back at most once a second instead of spinning,
# and the CPU it would have spent on refusals goes to the requests admitted. The pause is a timer
# on the event loop, so a refusal still costs no parsing and no thread.
PAUSE_S = 1.0
# After answering a request it refused, the server reads and drops what the client still sends
# for this long before closing: closing with unread data would reset the connection, and the
# client would lose the answer (nginx's lingering close).
LINGER_S = 2.0
# In the app's lifespan state (uvicorn's app_state): `() -> ServiceError | None`, asked for each
# request that would run inference, when its headers are in and before its body is read; an error
# is answered at once, on a connection kept alive (admission by expected wait, service.runtime).
ADMISSION_STATE = "vae_serve.admission"
_ADMITTED = ((b"POST", b"PUT"), (b"/v1/models/", b"/v2/models/"))  # methods, path prefixes


@dataclass(frozen=True)
class HttpLimits:
    """What one connection may send before its request reaches the app; times in seconds."""

    max_connections: int = 512  # connections and requests in flight, per worker
    max_request_line: int = 8192  # bytes of the request target
    max_header_bytes: int = 16384  # bytes of all header names and values
    max_headers: int = 100
    header_timeout: float = 10.0  # from the first byte (or the connection) to the last header


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's protocol with `HttpLimits`. uvicorn builds one per connection: pass it as
    `http=functools.partial(GuardedHttpTools, limits=...)` (a partial pickles, for workers)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.limit_concurrency = None  # uvicorn's check answers in plain text: ours replaces it
        self._app = self.app
        self._reading_head = True
        self._head_bytes = 0  # received while reading the head: bounds what httptools buffers
        self._header_count = 0
        self._header_bytes = 0
        self._refusal: tuple[int, str, str] | None = None  # why the parser was stopped
        self._rejected = False  # answered already: what still arrives is dropped
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _Coalesced(transport, self.loop)  # type: ignore[assignment]
        self._start_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        head_limit = self.limits.max_request_line + self.limits.max_header_bytes + 1024
        if self._reading_head and self._head_bytes > head_limit:
            self.reject(431, "header_too_large", self._headers_message())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._header_count = self._header_bytes = 0
        self._start_head_deadline()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            self._stop_parser(
                414, "uri_too_long", f"request target over {self.limits.max_request_line} bytes"
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value)
        if (
            self._header_count > self.limits.max_headers
            or self._header_bytes > self.limits.max_header_bytes
        ):
            self._stop_parser(431, "header_too_large", self._headers_message())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head_deadline()
        self._reading_head = False
        self._head_bytes = 0
        limit = self.limits.max_connections
        crowded = len(self.connections) > limit or len(self.tasks) >= limit
        refusal = None if crowded else self._admission()
        if crowded:
            self.app = _OVER_CAPACITY
            logger.warning("over %d connections or requests in flight: answered 503", limit)
        else:
            self.app = (
                self._app if refusal is None else _answering(refusal, close=False, pause=PAUSE_S)
            )
        super().on_headers_complete()

    def _admission(self) -> ServiceError | None:
        """The app's refusal of a request that would run inference, asked before its body."""
        admission = self.app_state.get(ADMISSION_STATE)
        methods, prefixes = _ADMITTED
        if admission is None or not self.url.startswith(prefixes):
            return None
        if self.parser.get_method() not in methods:
            return None
        refusal: ServiceError | None = admission()
        return refusal

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request httptools cannot parse, or that a limit stopped."""
        status, code, message = self._refusal or (400, "bad_request", "malformed HTTP request")
        self.reject(status, code, message)

    def reject(self, status: int, code: str, message: str) -> None:
        """Answer with the JSON error body and close, before the request reached the app."""
        if self._rejected or self.transport.is_closing():
            return
        self._rejected = True
        self._stop_head_deadline()
        if self.cycle is not None and not self.cycle.response_complete:
            # A request before this one (pipelined) is still being answered: answer it, then
            # close, rather than write this refusal into the middle of its response.
            self.cycle.keep_alive = False
            return
        body = orjson.dumps(error_body(code, message, path=self._path()))
        head = [STATUS_LINE[status]]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is complete; keep reading (and dropping)
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def _path(self) -> str:
        """The path of the request being refused, as far as it arrived: it picks the error
        shape (the Open Inference Protocol's under /v2)."""
        url = getattr(self, "url", b"") or b""
        return url.split(b"?", 1)[0].decode("latin-1")

    def _stop_parser(self, status: int, code: str, message: str) -> None:
        """Raised in a parser callback: httptools stops, uvicorn calls send_400_response."""
        self._refusal = (status, code, message)
        raise ValueError(message)

    def _headers_message(self) -> str:
        limits = self.limits
        return (
            f"request headers over {limits.max_header_bytes} bytes or {limits.max_headers} fields"
        )

    def _start_head_deadline(self) -> None:
        self._stop_head_deadline()
        self._head_deadline = self.loop.call_later(self.limits.header_timeout, self._head_too_slow)

    def _stop_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.cycle is None or self.cycle.response_complete:  # not inside a request
            message = f"request headers not received within {self.limits.header_timeout:g} s"
            self.reject(408, "request_timeout", message)


class _Coalesced:
    """A connection's transport whose writes within one turn of the event loop leave in one send:
    uvicorn writes a response's head and its body separately, which costs two system calls (and
    two wake-ups of the client) where one does."""

    __slots__ = ("_ended", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._ended = False  # after write_eof nothing more can be sent: writes are dropped

    def write(self, data: bytes) -> None:
        if self._ended:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            if not self._transport.is_closing() and not self._ended:
                self._transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._ended = True
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()


def _answering(error: ServiceError, close: bool, pause: float = 0.0) -> Any:
    """An ASGI app answering `error` in the JSON error body of the request's path, after `pause`
    seconds (a wait on the event loop: no CPU)."""
    extra = error.headers or {}
    head = [(b"content-type", b"application/json")]
    head += [(name.lower().encode(), value.encode()) for name, value in extra.items()]
    head += [(b"connection", b"close")] if close else []

    async def answer(scope: Any, receive: Any, send: Any) -> None:
        if pause > 0:
            await asyncio.sleep(pause)
        body = orjson.dumps(error_body(error.code, error.message, error.detail, path=scope["path"]))
        headers = [*head, (b"content-length", str(len(body)).encode()),
                   (_REQUEST_ID, new_request_id().encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return answer


# The app for a request past `max_connections`: 503, JSON, and the connection closed.
_OVER_CAPACITY = _answering(
    Overloaded(
        "too many connections or requests in flight; retry later", headers={"Retry-After": "1"}
    ),
    close=True,
)
