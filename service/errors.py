"""The service's one error hierarchy. Each error carries its HTTP status and a stable code;
`service.handlers` maps any `ServiceError`, and the core's errors (`vae_core.errors`), to
`{"error": {"code", "message", "detail"}}`; under /v2, the Open Inference Protocol's
`{"error": "message"}`."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, detail: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers


class ModelNotFound(ServiceError):
    status_code = 404
    code = "model_not_found"


class AttributeNotFound(ServiceError):
    status_code = 404
    code = "attribute_not_found"


class MapNotFound(ServiceError):
    """The model's bundle has no latent map (it is optional)."""

    status_code = 404
    code = "map_not_found"


class CalibrationNotFound(ServiceError):
    """The model's bundle has no anomaly calibration (it is optional)."""

    status_code = 404
    code = "calibration_not_found"


class ModelUnavailable(ServiceError):
    status_code = 503
    code = "model_unavailable"


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class RequestTimeout(ServiceError):
    """The client did not send its whole body in time: the connection is closed after the reply."""

    status_code = 408
    code = "request_timeout"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedImage(ServiceError):
    status_code = 415
    code = "unsupported_image"


class InvalidInput(ServiceError):
    status_code = 422
    code = "invalid_input"


class Overloaded(ServiceError):
    status_code = 503
    code = "overloaded"


class InferenceTimeout(ServiceError):
    status_code = 504
    code = "inference_timeout"


class NotAcceptable(ServiceError):
    status_code = 406
    code = "not_acceptable"


class NotConfigured(ServiceError):
    """A feature needs a setting the operator has not given (e.g. the data directory)."""

    status_code = 503
    code = "not_configured"


V2_PREFIX = "/v2"  # the Open Inference Protocol's paths


def error_body(code: str, message: str, detail: Any = None, path: str = "") -> dict[str, Any]:
    """The JSON body of an error response to a request for `path`: ours, or the Open Inference
    Protocol's (a message alone) under /v2."""
    if path == V2_PREFIX or path.startswith(f"{V2_PREFIX}/"):
        return {"error": message}
    return {"error": {"code": code, "message": message, "detail": detail}}
