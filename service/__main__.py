"""`python -m service`: serve the bundles in --model-dir over HTTP with uvicorn.

Flags override the same settings from the environment (`VAE_SERVE_*`, see service.config)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from functools import partial
from pathlib import Path
from typing import get_args

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from service.app import create_app
from service.config import LogLevel, Settings
from service.http_guard import GuardedHttpTools, HttpLimits
from service.logs import configure_logging
from service.runtime import return_freed_memory
from service.uvicorn_internals import problems

FACTORY = "service.__main__:app_from_environment"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8000)")
    parser.add_argument("--model-dir", type=Path, help="folder of model bundles (default models)")
    parser.add_argument("--data-dir", type=Path, help="writable folder for custom vectors")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    parser.add_argument("--log-level", choices=get_args(LogLevel), help="default info")
    return parser.parse_args(argv)


def settings_from(argv: list[str] | None = None) -> Settings:
    """The environment's settings, overridden by the flags that were given."""
    overrides = {k: v for k, v in vars(parse_args(argv)).items() if v is not None}
    return Settings(**overrides)


def _exit_cleanly(signum: int, frame: object) -> None:
    """uvicorn drains in-flight requests on SIGTERM, then re-raises the signal on itself: end
    with status 0 (a clean, requested stop) rather than "killed by SIGTERM"."""
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    try:
        settings = settings_from(argv)
    except ValidationError as exc:
        sys.exit(f"invalid settings:\n{exc}")
    if found := problems():  # the HTTP guard or graceful shutdown would break at run time
        sys.exit("this uvicorn is not the one the service was written for:\n" + "\n".join(found))
    configure_logging(settings.log_level)
    return_freed_memory()
    signal.signal(signal.SIGTERM, _exit_cleanly)
    limits = HttpLimits(
        max_connections=settings.max_connections,
        max_request_line=settings.max_request_line_bytes,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout_s,
    )
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # ours: JSON lines
        "access_log": False,  # ours: one line per request, with the request id
        "server_header": False,
        "loop": "uvloop",
        "http": partial(GuardedHttpTools, limits=limits),  # uvicorn's, with limits and JSON errors
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
    os.environ.update(settings.environment())  # each worker rebuilds the same settings
    uvicorn.run(FACTORY, factory=True, workers=settings.workers, **common)  # type: ignore[arg-type]


def app_from_environment() -> FastAPI:
    """The app of one worker process, when there are several."""
    settings = Settings()
    configure_logging(settings.log_level)
    return_freed_memory()
    return create_app(settings)


if __name__ == "__main__":
    main()
