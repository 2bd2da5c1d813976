"""Latent codes on the wire, packed: `{"dtype": "float32", "shape": [n, d], "data": base64 of the
little-endian float32 values, row-major}`. The client asks for codes in this form
(`"code_format": "base64"`) and sends its own in it: exact, and a quarter of the bytes of JSON
numbers."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np


def pack(z: np.ndarray) -> dict[str, Any]:
    """Codes [N, D] (or one code [D]) -> the packed object."""
    rows = np.atleast_2d(np.asarray(z, dtype=np.float32))
    if rows.ndim != 2:
        raise ValueError(f"latent codes are [D] or [N, D], got shape {list(np.shape(z))}")
    data = base64.b64encode(np.ascontiguousarray(rows, dtype="<f4").tobytes()).decode("ascii")
    return {"dtype": "float32", "shape": list(rows.shape), "data": data}


def unpack(packed: Any) -> np.ndarray:
    """The packed object (or, from an older server, lists of numbers) -> float32 [N, D]."""
    if isinstance(packed, dict):
        raw = base64.b64decode(packed["data"])
        return np.frombuffer(raw, dtype="<f4").reshape(packed["shape"]).astype(np.float32)
    return np.asarray(packed, dtype=np.float32)
