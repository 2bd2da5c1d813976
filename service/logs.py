"""Structured logs: one JSON object per line, carrying the current request id when there is one.

Cheap on the event loop: the server formats and writes every line on a thread of its own
(`configure_logging`), and a request's access line is queued to it as a tuple of its fields, so
a request costs the loop about a microsecond of logging, never a formatted line or a write."""

from __future__ import annotations

import atexit
import contextvars
import logging
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any, TextIO

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
            "time": _time(record.created),
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


# One request's access line, as queued for the writer: (time, method, path, status, request id,
# seconds, endpoint, model).
AccessEntry = tuple[float, str, str, int, str, float, str, str]


class LogWriter:
    """The one thread that formats and writes the server's log lines, in order: every `interval`
    seconds, whatever is waiting, in one write. Takes LogRecords (formatted by `formatter`) and
    AccessEntries. Putting a line wakes nobody (a deque append): the event loop never pays for a
    thread switch per request."""

    def __init__(self, stream: TextIO, formatter: logging.Formatter, interval: float = 0.05):
        self._stream = stream
        self._formatter = formatter
        self._interval = interval
        self._pending: deque[logging.LogRecord | AccessEntry] = deque()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def put(self, item: logging.LogRecord | AccessEntry) -> None:
        self._pending.append(item)

    def stop(self) -> None:
        """Write what is waiting, then end the thread."""
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self._write()
        self._write()

    def _write(self) -> None:
        lines = []
        while self._pending:
            lines.append(self._line(self._pending.popleft()))
        if not lines:
            return
        try:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # stderr closed: nothing left to tell
            pass

    def _line(self, item: logging.LogRecord | AccessEntry) -> str:
        if isinstance(item, logging.LogRecord):
            return self._formatter.format(item)
        created, method, path, status, rid, seconds, endpoint, model = item
        return orjson.dumps(
            {
                "time": _time(created),
                "level": "info",
                "logger": ACCESS_LOGGER,
                "message": f"{method} {path} {status}",
                "method": method,
                "path": path,
                "status": status,
                "request_id": rid,
                "duration_ms": round(seconds * 1000, 3),
                "endpoint": endpoint,
                "model": model or None,
            }
        ).decode()


class _Enqueue(logging.Handler):
    """Hands each record to the writer thread: formatting and writing are the writer's work."""

    def __init__(self, writer: LogWriter):
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        rid = request_id.get()  # the writer thread runs in no request's context
        if rid is not None and "request_id" not in record.__dict__:
            record.request_id = rid
        if record.exc_info and not record.exc_text:  # the traceback while it still exists
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        self.writer.put(record)


class AccessLog:
    """One INFO line on `vae_serve.access` per request, with its fields. When the server's own
    writer is the only handler (`configure_logging`), the line's fields are queued to it as they
    are (under a microsecond); otherwise (tests, embedding) a LogRecord goes to the handlers."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)

    def record(
        self, method: str, path: str, status: int, rid: str, seconds: float, endpoint: str,
        model: str,
    ) -> None:  # fmt: skip
        if not self.logger.isEnabledFor(logging.INFO):
            return
        writer = self._writer()
        if writer is not None:
            writer.put((time.time(), method, path, status, rid, seconds, endpoint, model))
            return
        record = logging.LogRecord(
            ACCESS_LOGGER, logging.INFO, __file__, 0, "%s %s %d", (method, path, status), None
        )
        record.__dict__.update(
            method=method, path=path, status=status, request_id=rid,
            duration_ms=round(seconds * 1000, 3), endpoint=endpoint, model=model or None,
        )  # fmt: skip
        self.logger.handle(record)

    def _writer(self) -> LogWriter | None:
        """The server's writer, if every access line would go to it and only to it."""
        logger: logging.Logger | None = self.logger
        while logger is not None and logger.parent is not None:  # up to the root
            if logger.handlers or not logger.propagate:
                return None
            logger = logger.parent
        handlers = logger.handlers if logger is not None else []
        only = handlers[0] if len(handlers) == 1 else None
        return only.writer if isinstance(only, _Enqueue) else None


def _time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


def configure_logging(level: str) -> None:
    """Send every logger (ours and uvicorn's) to stderr as JSON lines at `level`, formatted and
    written by one thread (flushed at exit). uvicorn's access log is silenced: `vae_serve.access`
    writes one richer line per request."""
    writer = LogWriter(sys.stderr, JsonFormatter())
    atexit.register(writer.stop)
    root = logging.getLogger()
    root.handlers[:] = [_Enqueue(writer)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = name != "uvicorn.access"
