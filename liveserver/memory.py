"""The service's memory under its largest requests: what `make bench` reports and the tests hold
to the targets below."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from liveserver.server import Server

# The memory targets: growth at the peak of four maximum requests, and what stays after them.
PEAK_GROWTH_MB = 200
RETURNED_WITHIN_MB = 50


@dataclass(frozen=True)
class MemoryUse:
    """The server's RSS (MB) before, at the peak during, and after the largest requests."""

    start: float
    peak: float
    settled: float


def memory_under_largest_requests(
    server: Server, model: str, concurrent: int = 4, items: int = 256
) -> MemoryUse:
    """`concurrent` maximum-size decodes (`items` codes), then as many reconstructs (`items`
    images), all at once, while the server's RSS is sampled; then RSS after it settles (waiting
    at most 10 s for freed memory to return). Every request must succeed."""
    base = f"{server.url}/v1/models/{model}"
    dim = httpx.get(base, timeout=10).json()["latent_dim"]
    z = np.random.default_rng(0).standard_normal((items, dim)).round(3).tolist()
    small = httpx.post(f"{base}/decode", json={"z": z[:2]}, timeout=60)
    small.raise_for_status()
    images = small.json()["images"] * (items // 2)

    async def at_once(path: str, body: dict[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=300) as client:
            calls = [client.post(f"{base}/{path}", json=body) for _ in range(concurrent)]
            for response in await asyncio.gather(*calls):
                response.raise_for_status()
                assert len(response.json()["images"]) == items

    start = server.rss_mb()
    with server.peak_rss() as rss:
        asyncio.run(at_once("decode", {"z": z}))
        asyncio.run(at_once("reconstruct", {"images": images}))
    settled = server.rss_mb()
    for _ in range(100):  # bounded: freed memory returns within moments, if at all
        if settled - start <= RETURNED_WITHIN_MB:
            break
        time.sleep(0.1)
        settled = server.rss_mb()
    return MemoryUse(start, rss.peak, settled)
