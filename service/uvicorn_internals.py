"""The one place the service touches uvicorn's private parts, and a check that they are still what
the service relies on.

uvicorn's public API stops at `uvicorn.run(app, http=<protocol class>)`. Two things here go
further: the HTTP guard (service.http_guard) subclasses uvicorn's httptools protocol to bound
request heads and answer in JSON, and graceful shutdown (service.shutdown) wraps the SIGTERM
handler uvicorn installs. Both import uvicorn through this module only, and `problems()` lists
what a uvicorn release has changed among the names, signatures and attributes they use;
`python -m service` refuses to start on a uvicorn that fails it, and
tests/service/test_uvicorn_internals.py fails with the same message.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
from importlib.metadata import version
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import Server, ServerState

__all__ = ["STATUS_LINE", "Config", "HttpToolsProtocol", "Server", "ServerState", "problems"]

TESTED_WITH = "0.54.0"  # the uvicorn pinned in requirements/runtime.txt
# The protocol's callbacks the guard overrides or calls, with the parameters it passes.
PROTOCOL_METHODS = {
    "__init__": ["self", "config", "server_state", "app_state", "_loop"],
    "connection_made": ["self", "transport"],
    "connection_lost": ["self", "exc"],
    "data_received": ["self", "data"],
    "on_message_begin": ["self"],
    "on_url": ["self", "url"],
    "on_header": ["self", "name", "value"],
    "on_headers_complete": ["self"],
    "send_400_response": ["self", "msg"],  # uvicorn's answer to a parser error: the guard's hook
}
# Attributes of a new protocol object the guard reads or replaces.
PROTOCOL_ATTRIBUTES = ("app", "app_state", "loop", "limit_concurrency", "server_state",
                       "connections", "tasks", "cycle", "parser")  # fmt: skip
STATUSES = (400, 408, 413, 414, 431, 503)  # the guard's own answers
# What the guard reads or sets on the request being answered (`protocol.cycle`).
CYCLE_ATTRIBUTES = ("response_complete", "keep_alive")


def problems() -> list[str]:
    """What this uvicorn lacks of what the guard and graceful shutdown use: empty when all holds."""
    found = _protocol_problems() + _status_problems() + _signal_problems()
    where = f"uvicorn {version('uvicorn')} (the service was written against {TESTED_WITH})"
    return [f"{where}: {problem}" for problem in found]


def _protocol_problems() -> list[str]:
    found = []
    for name, expected in PROTOCOL_METHODS.items():
        method = getattr(HttpToolsProtocol, name, None)
        if method is None:
            found.append(f"HttpToolsProtocol.{name} is gone (service/http_guard.py overrides it)")
            continue
        params = list(inspect.signature(method).parameters)
        if params[: len(expected)] != expected:
            found.append(f"HttpToolsProtocol.{name} takes {params}, the guard passes {expected}")
    try:
        protocol = _bare_protocol()
    except Exception as exc:  # any failure to build one is the news
        return [*found, f"HttpToolsProtocol(config, server_state, app_state) fails: {exc!r}"]
    found += [
        f"a new HttpToolsProtocol has no attribute {name!r} (service/http_guard.py uses it)"
        for name in PROTOCOL_ATTRIBUTES
        if not hasattr(protocol, name)
    ]
    if not hasattr(protocol.server_state, "default_headers"):
        found.append("ServerState has no default_headers (the guard's answers carry them)")
    cycle_source = inspect.getsource(RequestResponseCycle.__init__)
    found += [
        f"RequestResponseCycle no longer sets self.{name} (service/http_guard.py uses it)"
        for name in CYCLE_ATTRIBUTES
        if f"self.{name} =" not in cycle_source
    ]
    return found


def _bare_protocol() -> HttpToolsProtocol:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    config = Config(app=app, log_config=None, lifespan="off")
    config.load()
    loop = asyncio.new_event_loop()
    try:
        return HttpToolsProtocol(config, ServerState(), {}, loop)
    finally:
        loop.close()


def _status_problems() -> list[str]:
    missing = [status for status in STATUSES if not isinstance(STATUS_LINE.get(status), bytes)]
    return [f"STATUS_LINE lacks the status lines {missing}"] if missing else []


def _signal_problems() -> list[str]:
    """Graceful shutdown wraps the handler uvicorn installs with signal.signal while it serves:
    `Server.handle_exit(sig, frame)`, which sets `should_exit`."""
    found = []
    params = list(inspect.signature(Server.handle_exit).parameters)
    if params != ["self", "sig", "frame"]:
        found.append(f"Server.handle_exit takes {params}, graceful shutdown passes (sig, frame)")
    if "signal.signal(" not in inspect.getsource(Server.capture_signals):
        found.append("Server.capture_signals no longer installs its handlers with signal.signal")
    server = Server(Config(app="service.app:create_app", log_config=None))
    server.handle_exit(signal.SIGTERM, None)
    if server.should_exit is not True:
        found.append("Server.handle_exit(SIGTERM) no longer sets should_exit")
    return found
