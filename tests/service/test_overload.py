"""Overload: a bounded inference queue (503 + Retry-After past it), a timeout on inference (504),
and recovery. The pool is tested directly with jobs that block on an event, so the outcomes depend
on order, not on speed; the burst runs against a real server process over loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.errors import InferenceTimeout, Overloaded
from service.runtime import InferencePool
from tests.conftest import serve

pytestmark = pytest.mark.e2e

BURST = 40
ASYNC = pytest.mark.anyio
LATENT_DIM = 32  # fashion-vae-32d


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def blocking_job(release: threading.Event, started: threading.Event | None = None) -> str:
    if started is not None:
        started.set()
    if not release.wait(timeout=30):  # bounded: a broken test never hangs the suite
        raise RuntimeError("never released")
    return "done"


@ASYNC
async def test_past_capacity_a_call_is_refused_at_once_with_retry_after() -> None:
    pool = InferencePool(concurrency=1, max_queue=1, timeout=30, retry_after=7)
    release = threading.Event()
    running = [asyncio.create_task(pool.run(blocking_job, release)) for _ in range(2)]
    await asyncio.sleep(0)  # both admitted: one runs, one waits for the thread
    assert pool.admitted == 2

    with pytest.raises(Overloaded) as refused:
        await pool.run(blocking_job, release)
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "7"}
    assert refused.value.detail == {"capacity": 2, "retry_after_s": 7}

    release.set()
    assert await asyncio.gather(*running) == ["done", "done"]
    assert pool.admitted == 0
    assert await pool.run(str.upper, "recovered") == "RECOVERED"
    pool.close()


@ASYNC
async def test_a_slow_job_times_out_with_504_and_keeps_its_slot_until_it_ends() -> None:
    pool = InferencePool(concurrency=1, max_queue=0, timeout=0.05)
    release, started = threading.Event(), threading.Event()

    with pytest.raises(InferenceTimeout) as timed_out:
        await pool.run(blocking_job, release, started)
    assert timed_out.value.status_code == 504
    assert started.is_set()
    # The thread cannot be stopped: its job still counts, so the bound holds.
    assert pool.admitted == 1
    with pytest.raises(Overloaded):
        await pool.run(str.upper, "x")

    release.set()
    await asyncio.to_thread(pool.close)  # waits for the job to end
    assert pool.admitted == 0


@ASYNC
async def test_a_queued_job_that_times_out_never_runs() -> None:
    pool = InferencePool(concurrency=1, max_queue=1, timeout=0.05)
    release, ran = threading.Event(), threading.Event()
    first = asyncio.create_task(pool.run(blocking_job, release))
    await asyncio.sleep(0)

    with pytest.raises(InferenceTimeout):
        await pool.run(ran.set)  # waits behind the first job, past the timeout
    release.set()
    with pytest.raises(InferenceTimeout):
        await first  # the first one timed out as well, while blocked
    await asyncio.to_thread(pool.close)
    assert not ran.is_set()
    assert pool.admitted == 0


@ASYNC
async def test_a_failing_job_releases_its_slot() -> None:
    pool = InferencePool(concurrency=1, max_queue=0)
    with pytest.raises(ZeroDivisionError):
        await pool.run(lambda: 1 / 0)
    assert pool.admitted == 0
    assert await pool.run(lambda: 2) == 2
    pool.close()


async def burst(url: str, body: dict[str, object]) -> list[httpx.Response]:
    """BURST concurrent decode requests, each on its own connection, all sent at once."""
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        calls = [client.post("/v1/models/fashion-vae-32d/decode", json=body) for _ in range(BURST)]
        return await asyncio.gather(*calls)


def test_a_burst_gets_503_with_retry_after_and_the_service_recovers(
    model_dir: Path, tmp_path: Path
) -> None:
    """One inference thread and a queue of two: of a burst of 40 heavy requests, the first few are
    served and the rest are refused at once, never queued without bound; afterwards all is well."""
    settings = {"inference_concurrency": "1", "inference_queue": "2", "retry_after_s": "2"}
    z = np.random.default_rng(0).standard_normal((256, LATENT_DIM)).round(3).tolist()
    body = {"z": z}
    with serve(model_dir, tmp_path, settings) as server:
        responses = asyncio.run(burst(server.url, body))
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) == {200, 503}, statuses
        assert statuses[200] >= 3, statuses  # at least the capacity was served
        for refused in (r for r in responses if r.status_code == 503):
            assert refused.headers["Retry-After"] == "2"
            assert refused.json()["error"]["code"] == "overloaded"
            assert "x-request-id" in refused.headers
        for served in (r for r in responses if r.status_code == 200):
            assert len(served.json()["images"]) == 256

        after = httpx.post(f"{server.url}/v1/models/fashion-vae-32d/decode", json=body, timeout=60)
        assert after.status_code == 200
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "vae_serve_inference_admitted 0.0" in metrics
        assert "vae_serve_inference_capacity 3.0" in metrics
        refused_line = next(
            line for line in metrics.splitlines()
            if line.startswith("vae_serve_request_errors_total{code=\"overloaded\"")
        )  # fmt: skip
        assert float(refused_line.split()[-1]) == statuses[503]


def test_connections_past_the_bound_get_503_until_others_close(
    model_dir: Path, tmp_path: Path
) -> None:
    """uvicorn's limit_concurrency counts open connections, idle keep-alive ones included."""
    with serve(model_dir, tmp_path, {"max_connections": "3"}) as server:
        host, port = server.url.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(3)]
        try:
            refused = httpx.get(f"{server.url}/healthz", timeout=10)
            assert refused.status_code == 503
        finally:
            for connection in idle:
                connection.close()
        for _ in range(100):  # bounded: the server notices the closed sockets quickly
            if httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the server kept refusing after the idle connections closed")
