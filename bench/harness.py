"""What every benchmark here shares: where results go, a lean keep-alive HTTP/1.1 client, and one
request per endpoint. The server process itself is `liveserver.server.Server`, which the tests
use too."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STEPS = 8  # interpolation frames per request
RESULTS = ROOT / "bench" / "results"


def results_stem(kind: str) -> Path:
    """bench/results/<kind>-<UTC time>: where one run writes its .json and .md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"


def write_results(stem: Path, record: object, table: str) -> None:
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1, default=str))
    stem.with_suffix(".md").write_text(table)


# ------------------------------------------------------------------------------ the requests


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


def calls(url: str, model: str) -> dict[str, Call]:
    """One request per endpoint, the same work as `bench.__main__.raw_throughput` times without
    HTTP: one image or code each."""
    info = httpx.get(f"{url}/v1/models/{model}", timeout=10).json()
    dim = info["latent_dim"]
    rng = np.random.default_rng(0)
    z = rng.standard_normal(dim).astype(np.float32).tolist()
    z2 = rng.standard_normal(dim).astype(np.float32).tolist()
    image = httpx.post(f"{url}/v1/models/{model}/decode", json={"z": [z]}, timeout=10)
    png_b64 = image.json()["images"][0]
    attribute = info["attributes"][0]
    base = f"/v1/models/{model}"
    return {
        "floor": Call("GET", "/healthz"),
        "encode": Call("POST", f"{base}/encode", {"images": [png_b64]}),
        "decode": Call("POST", f"{base}/decode", {"z": [z]}),
        "sample": Call("POST", f"{base}/sample", {"n": 1, "seed": 1}),
        "edit": Call("POST", f"{base}/edit", {"z": [z], "attributes": {attribute: 1.0}}),
        "interpolate": Call("POST", f"{base}/interpolate", {"z": [z, z2], "steps": STEPS}),
        "reconstruct": Call("POST", f"{base}/reconstruct", {"images": [png_b64]}),
        "score": Call("POST", f"{base}/score", {"images": [png_b64]}),
    }


class Connection:
    """A minimal keep-alive HTTP/1.1 client over asyncio streams: far cheaper per request than a
    general client, so the load generator (on the same cores) takes less from the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        return status, await self._reader.readexactly(length)

    def close(self) -> None:
        self._writer.close()


def encode_request(call: Call, port: int) -> bytes:
    body = b"" if call.body is None else json.dumps(call.body).encode()
    head = f"{call.method} {call.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if call.body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body
