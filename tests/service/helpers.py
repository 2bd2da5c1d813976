"""Helpers shared by the service tests."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import numpy as np
from PIL import Image


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pixels(encoded: str | bytes) -> np.ndarray:
    """A base64 PNG string (or raw PNG bytes) -> its pixels as int16, for differences."""
    data = base64.b64decode(encoded) if isinstance(encoded, str) else encoded
    return np.asarray(Image.open(io.BytesIO(data))).astype(np.int16)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the status, then the one error shape; return the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]
