"""Structured logs: one JSON object per line, carrying the current request id when there is one.

Cheap on the event loop: the access line is a LogRecord built directly (no caller lookup), and the
server formats and writes every line on a thread of its own (`configure_logging`), so a request
costs the loop a few microseconds of logging, never a formatted line or a write."""

from __future__ import annotations

import atexit
import contextvars
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
ACCESS_LOGGER = "vae_serve.access"
# Attributes every LogRecord has; anything else was passed with `extra=` and goes in the line.
# uvicorn adds `color_message`, the same text with terminal colours.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "taskName", "color_message",
}  # fmt: skip


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        line |= {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_text:  # formatted when the record was queued (_Enqueue)
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class AccessLog:
    """One INFO line on `vae_serve.access` per request, with its fields as extras."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)

    def record(
        self, method: str, path: str, status: int, rid: str, seconds: float, endpoint: str,
        model: str,
    ) -> None:  # fmt: skip
        if not self.logger.isEnabledFor(logging.INFO):
            return
        record = logging.LogRecord(
            ACCESS_LOGGER, logging.INFO, __file__, 0, "%s %s %d", (method, path, status), None
        )
        record.__dict__.update(
            method=method, path=path, status=status, request_id=rid,
            duration_ms=round(seconds * 1000, 3), endpoint=endpoint, model=model or None,
        )  # fmt: skip
        self.logger.handle(record)


class _Enqueue(logging.handlers.QueueHandler):
    """Hands each record to the writer thread as it is: formatting is the writer's work."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        rid = request_id.get()  # the writer thread runs in no request's context
        if rid is not None and "request_id" not in record.__dict__:
            record.request_id = rid
        if record.exc_info and not record.exc_text:  # the traceback while it still exists
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        return record


def configure_logging(level: str) -> None:
    """Send every logger (ours and uvicorn's) to stderr as JSON lines at `level`, formatted and
    written by one thread (flushed at exit). uvicorn's access log is silenced: `vae_serve.access`
    writes one richer line per request."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, handler)
    listener.start()
    atexit.register(listener.stop)
    root = logging.getLogger()
    root.handlers[:] = [_Enqueue(records)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = name != "uvicorn.access"
