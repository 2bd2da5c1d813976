"""The core's errors: plain domain errors that say what is wrong and where. They carry no HTTP
status; the service maps them to its own (a broken bundle is a 503 there)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError


class CoreError(Exception):
    """Base class of the core's errors; `message` is the text for a human."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BundleInvalid(CoreError):
    """A bundle on disk is incomplete, corrupt or inconsistent."""


def location(loc: Sequence[int | str], empty: str = "body") -> str:
    """A validation error's location as dotted text: ("z", 0, 3) -> "z.0.3"."""
    return ".".join(str(part) for part in loc) or empty


def first_error(exc: ValidationError, empty: str = "document") -> str:
    """The first of a validation error's problems as `where: what`."""
    error = exc.errors(include_url=False)[0]
    return f"{location(error['loc'], empty)}: {error['msg']}"
