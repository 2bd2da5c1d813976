"""Typed errors, one per error code of the API (`{"error": {"code", "message", "detail"}}`): catch
`ModelNotFound`, `InvalidInput`, `Overloaded` (with its `retry_after`) and so on, or any of them as
`VaeServeError`."""

from __future__ import annotations

from typing import Any


class VaeServeError(Exception):
    """An error answer from the service (or no answer at all: `ServiceUnreachable`).

    `status` is the HTTP status (0 when there was no answer), `code` the API's stable code,
    `detail` its structured context, `request_id` the `X-Request-ID` to find the server's log line.
    """

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        detail: Any = None,
        request_id: str | None = None,
    ):
        super().__init__(message)
        self.code = code or type(self).code
        self.message = message
        self.status = status
        self.detail = detail
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.status else self.message


class ServiceUnreachable(VaeServeError):
    """No HTTP answer: the connection failed or timed out."""

    code = "unreachable"


class Unauthorized(VaeServeError):
    code = "unauthorized"


class ModelNotFound(VaeServeError):
    code = "model_not_found"


class AttributeNotFound(VaeServeError):
    code = "attribute_not_found"


class MapNotFound(VaeServeError):
    """The model's bundle has no latent map (it is optional; `python -m training map` adds one)."""

    code = "map_not_found"


class CalibrationNotFound(VaeServeError):
    """The model's bundle has no anomaly calibration (`vae-serve calibrate` adds one)."""

    code = "calibration_not_found"


class NotFound(VaeServeError):
    """No such endpoint (a server of another version, or a wrong URL)."""

    code = "not_found"


class NotAcceptable(VaeServeError):
    code = "not_acceptable"


class Conflict(VaeServeError):
    """The attribute is built into the bundle and read-only."""

    code = "conflict"


class PayloadTooLarge(VaeServeError):
    code = "payload_too_large"


class RequestTimeout(VaeServeError):
    """The request's headers or body did not reach the server in time (a stalled upload)."""

    code = "request_timeout"


class RequestRefused(VaeServeError):
    """The HTTP server refused the request before reading it: malformed, or a request line or
    headers over its limits."""

    code = "bad_request"


class UnsupportedImage(VaeServeError):
    code = "unsupported_image"


class InvalidInput(VaeServeError):
    code = "invalid_input"


class ModelUnavailable(VaeServeError):
    """The model's bundle is broken on the server; other models still serve."""

    code = "model_unavailable"


class NotConfigured(VaeServeError):
    """The server lacks a setting the call needs (custom vectors need a data directory)."""

    code = "not_configured"


class Overloaded(VaeServeError):
    """The server is at capacity; `retry_after` is how many seconds it asks a client to wait. The
    client retries these itself (`retries`) before raising."""

    code = "overloaded"

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any):
        super().__init__(message, **context)
        self.retry_after = retry_after


class InferenceTimeout(VaeServeError):
    code = "inference_timeout"


class ServerError(VaeServeError):
    """A fault on the server (500), or an answer this client cannot read."""

    code = "internal_error"


BY_CODE: dict[str, type[VaeServeError]] = {
    kind.code: kind
    for kind in (
        Unauthorized, ModelNotFound, AttributeNotFound, MapNotFound, CalibrationNotFound,
        NotFound, NotAcceptable,
        Conflict, PayloadTooLarge, RequestTimeout, RequestRefused, UnsupportedImage, InvalidInput,
        ModelUnavailable, NotConfigured, Overloaded, InferenceTimeout, ServerError,
    )
}  # fmt: skip
# What the HTTP server itself answers before the request reaches the app, past its limits.
BY_CODE |= {"uri_too_long": RequestRefused, "header_too_large": RequestRefused}
