"""Graceful shutdown: on SIGTERM a replica turns not ready first, keeps serving for `drain_s` (every
response closing its connection, so clients and proxies reconnect elsewhere), then hands the signal
to uvicorn, which stops accepting, lets in-flight requests finish (at most shutdown_timeout_s) and
exits.

A request already queued when uvicorn stops accepting, in the inference pool or in the dynamic
batcher, is in flight: it is run and answered (the batcher waits at most batch_max_wait_ms for
batch-mates, then runs what it has). Only past shutdown_timeout_s does uvicorn cancel what is left:
a request still waiting for a thread is then dropped without an answer (its connection closes), and
one running in a thread finishes before the process exits.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from service.uvicorn_internals import Server

logger = logging.getLogger("vae_serve")


class Drain:
    """A replica's shutdown state, read on every request: set once, on the first SIGTERM."""

    def __init__(self) -> None:
        self.since: float | None = None  # time.monotonic() of the SIGTERM

    @property
    def active(self) -> bool:
        return self.since is not None

    def start(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


def drain_on_sigterm(drain: Drain, seconds: float) -> Callable[[], None] | None:
    """Put the drain in front of uvicorn's SIGTERM handler, which uvicorn installs while it serves
    (call from the lifespan): the first SIGTERM starts the drain and passes the signal on to
    uvicorn `seconds` later; a second passes it on at once. Returns the function that puts the
    previous handler back, or None where there is nothing to wrap (not uvicorn's main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    uvicorn_handler = signal.getsignal(signal.SIGTERM)
    if getattr(uvicorn_handler, "__func__", None) is not Server.handle_exit:
        return None
    assert callable(uvicorn_handler)
    handler = _DrainingHandler(drain, seconds, uvicorn_handler)
    signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, uvicorn_handler)

    return restore


class _DrainingHandler:
    def __init__(self, drain: Drain, seconds: float, then: Callable[[int, FrameType | None], Any]):
        self.drain = drain
        self.seconds = seconds
        self.then = then

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.drain.active or self.seconds == 0:
            self.drain.start()
            self.then(signum, frame)
            return
        self.drain.start()
        logger.info("SIGTERM: not ready; draining for %g s, then closing", self.seconds)
        # uvicorn's handler only sets a flag that its main loop polls: safe from a thread.
        timer = threading.Timer(self.seconds, self.then, args=(signum, None))
        timer.daemon = True
        timer.start()
