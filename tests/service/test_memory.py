"""Memory under the largest requests, on a real server process: resident memory (summed over its
processes), sampled while four maximum-size requests run at once on the largest bundle, and after.
The assertions are about memory, never about time."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from bench.harness import Server
from tests.service.conftest import serve
from vae_core.bundle import read_manifest

CONCURRENT = 4
MAX_ITEMS = 256  # the default VAE_SERVE_MAX_ITEMS: a maximum-size request
PEAK_GROWTH_MB = 200
RETURNED_WITHIN_MB = 50


def largest_bundle(model_dir: Path) -> str:
    """The bundle with the largest images (the most memory per row)."""
    bundles = [path for path in model_dir.iterdir() if (path / "model.json").is_file()]
    return max(bundles, key=lambda path: np.prod(read_manifest(path).image_shape)).name


class PeakRss:
    """Samples the server's RSS every few milliseconds in a thread, keeping the highest."""

    def __init__(self, server: Server):
        self.server = server
        self.peak = server.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.server.rss_mb())


async def at_once(url: str, path: str, body: dict[str, object]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        return await asyncio.gather(*(client.post(path, json=body) for _ in range(CONCURRENT)))


@pytest.mark.slow
def test_four_maximum_requests_at_once_stay_bounded_and_memory_returns(
    model_dir: Path, tmp_path: Path
) -> None:
    name = largest_bundle(model_dir)
    models = tmp_path / "models"
    shutil.copytree(model_dir / name, models / name)
    dim = read_manifest(models / name).latent_dim
    z = np.random.default_rng(0).standard_normal((MAX_ITEMS, dim)).round(3).tolist()
    base = f"/v1/models/{name}"
    with serve(models, tmp_path) as server:
        small = httpx.post(f"{server.url}{base}/decode", json={"z": z[:2]}, timeout=60)
        assert small.status_code == 200, small.text
        images = small.json()["images"]
        start = server.rss_mb()
        with PeakRss(server) as rss:
            decoded = asyncio.run(at_once(server.url, f"{base}/decode", {"z": z}))
            body = {"images": images * (MAX_ITEMS // 2)}  # encode, then decode, 256 images
            reconstructed = asyncio.run(at_once(server.url, f"{base}/reconstruct", body))
        for response in decoded + reconstructed:
            assert response.status_code == 200, response.text
            assert len(response.json()["images"]) == MAX_ITEMS
        assert rss.peak - start < PEAK_GROWTH_MB, f"{start:.0f} MB -> peak {rss.peak:.0f} MB"
        settled = server.rss_mb()
        for _ in range(100):  # bounded: freed memory returns within moments, if at all
            if settled - start <= RETURNED_WITHIN_MB:
                break
            time.sleep(0.1)
            settled = server.rss_mb()
        assert settled - start <= RETURNED_WITHIN_MB, f"{start:.0f} MB -> {settled:.0f} MB after"
