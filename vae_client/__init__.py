"""A Python client of vae-serve: numpy in, numpy out, typed errors. It needs only httpx, numpy and
pillow.

    from vae_client import Client
    client = Client("http://127.0.0.1:8000")
    z = client.encode("trouser.png", model="fashion-vae-2d").z_mean  # float32 [1, 2]

`AsyncClient` has the same methods as coroutines. Images go in as paths, bytes, PIL images or uint8
arrays and come out as uint8 arrays, [N, H, W] (grayscale) or [N, H, W, 3] (RGB); codes are
float32 [N, D] and travel packed (`"code_format": "base64"`), so they are exact."""

from __future__ import annotations

__version__ = "0.1.0"

from vae_client.client import AsyncClient, Client
from vae_client.errors import (
    AttributeNotFound,
    CalibrationNotFound,
    Conflict,
    InferenceTimeout,
    InvalidInput,
    MapNotFound,
    ModelNotFound,
    ModelUnavailable,
    NotAcceptable,
    NotConfigured,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RequestRefused,
    RequestTimeout,
    ServerError,
    ServiceUnreachable,
    Unauthorized,
    UnsupportedImage,
    VaeServeError,
)
from vae_client.results import (
    Attribute,
    Codes,
    Decoded,
    LatentMap,
    Model,
    Projected,
    Samples,
    Scored,
    Scores,
)

__all__ = [
    "AsyncClient", "Attribute", "AttributeNotFound", "CalibrationNotFound", "Client", "Codes",
    "Conflict", "Decoded",
    "InferenceTimeout", "InvalidInput", "LatentMap", "MapNotFound", "Model", "ModelNotFound",
    "ModelUnavailable", "NotAcceptable", "NotConfigured", "NotFound", "Overloaded",
    "PayloadTooLarge", "Projected", "RequestRefused", "RequestTimeout", "Samples", "Scored",
    "Scores", "ServerError", "ServiceUnreachable", "Unauthorized", "UnsupportedImage",
    "VaeServeError",
]  # fmt: skip
