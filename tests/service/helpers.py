"""Helpers shared by the service tests."""

from __future__ import annotations

import base64
import io
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

VAE = "fashion-vae-2d"
# The OpenAPI document's operations (/v1 and the health routes), by operationId: what a generated
# client names its functions and modules after.
OPERATION_IDS = frozenset({
    "healthz", "readyz", "metrics", "list_models", "describe_model", "encode", "decode", "sample",
    "reconstruct", "edit", "interpolate", "list_attributes", "get_attribute", "put_attribute",
    "delete_attribute", "get_map", "get_map_sprite", "project", "score", "get_calibration",
    "reload",
})  # fmt: skip
# Cases the fuzzer sent, by property (tests/service/test_fuzz.py), for the end of the run's summary.
FUZZ_CASES = pytest.StashKey[dict[str, int]]()


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def saved(image: Image.Image, format: str, **options: object) -> bytes:
    """`image` encoded as a `format` file."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pixels(encoded: str | bytes) -> np.ndarray:
    """A base64 PNG string (or raw PNG bytes) -> its pixels as int16, for differences."""
    data = base64.b64decode(encoded) if isinstance(encoded, str) else encoded
    return np.asarray(Image.open(io.BytesIO(data))).astype(np.int16)


def z_mean(client: httpx.Client, *images: bytes) -> np.ndarray:
    """The fashion-vae-2d codes of the images, one row each (the request must succeed)."""
    response = client.post(f"/v1/models/{VAE}/encode", json={"images": [b64(i) for i in images]})
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["z_mean"])


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the status, then the one error shape; return the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def assert_healthy(client: httpx.Client, image: bytes) -> None:
    """Alive, ready, and a good request still succeeds (a TestClient or a live server's client)."""
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    response = client.post(f"/v1/models/{VAE}/encode", json={"images": [b64(image)]})
    assert response.status_code == 200, response.text


def png_file(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written chunk by chunk, for what Pillow will not write (16-bit RGB, a bomb's
    header). `rows` is the zlib stream's content: each row a filter byte then its samples."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height, with (almost) no pixel data: a bomb's shape."""
    return png_file(width, height, 8, 0, b"\0" * 64)


# Settings under which one request holds the server's only inference slot for about a second: it
# waits in the batcher for batch-mates (batch_max_wait_ms) that never come, so every request sent
# meanwhile is refused at once with 503 and Retry-After: overload without racing the clock.
OVERLOADABLE = {
    "inference_concurrency": "1",
    "inference_queue": "0",
    "batching": "true",
    "batch_max_size": "4096",
    "batch_max_wait_ms": "1000",
}


def admitted(url: str) -> float:
    """Inference jobs running or queued on the server now, from /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    line = next(
        line for line in text.splitlines() if line.startswith("vae_serve_inference_admitted")
    )
    return float(line.split()[-1])


@contextmanager
def occupied(url: str) -> Iterator[None]:
    """While inside, the only inference slot of a server started with OVERLOADABLE settings is
    taken (for about a second from entry): send the request that must be refused at once."""
    holder = threading.Thread(
        target=httpx.post,
        args=(f"{url}/v1/models/{VAE}/decode",),
        kwargs={"json": {"z": [[0.0, 0.0]]}, "timeout": 60},
    )
    holder.start()
    try:
        for _ in range(2000):  # bounded: the holder is admitted within milliseconds
            if admitted(url) == 1:
                break
            time.sleep(0.005)
        else:
            raise AssertionError("the holding request never reached the inference pool")
        yield
    finally:
        holder.join(timeout=60)
