"""Overload: admission by expected wait against a latency budget, a hard bound on the queue (503 +
Retry-After past either), a timeout on inference (504), and recovery. The pool is tested directly
with jobs that block on an event, and with a service time set as if measured, so the outcomes
depend on order, not on speed; the burst and the refusal before the body run against a real server
process over loopback."""

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
from service.runtime import InferencePool, drain_rate
from tests.conftest import serve
from tests.service.helpers import OVERLOADABLE, VAE, occupied

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
async def test_past_the_queue_bound_a_call_is_refused_at_once_with_retry_after() -> None:
    refusals = []
    pool = InferencePool(
        concurrency=1, max_queue=1, timeout=30, on_refusal=lambda: refusals.append(1)
    )
    release = threading.Event()
    running = [asyncio.create_task(pool.run(blocking_job, release)) for _ in range(2)]
    await asyncio.sleep(0)  # both admitted: one runs, one waits for the thread
    assert pool.admitted == 2

    with pytest.raises(Overloaded) as refused:
        await pool.run(blocking_job, release)
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}  # no job has ended: no drain rate yet
    assert refused.value.detail["capacity"] == 2
    assert "queue is full" in refused.value.message
    assert refusals == [1]

    release.set()
    assert await asyncio.gather(*running) == ["done", "done"]
    assert pool.admitted == 0
    assert await pool.run(str.upper, "recovered") == "RECOVERED"
    pool.close()


@ASYNC
async def test_admission_is_by_the_expected_wait_against_the_latency_budget() -> None:
    """One thread, 0.5 s a job (as if measured), a budget of 2 s: a job with 4 ahead of it
    would wait 2 s and is admitted; the next would wait 2.5 s and is refused, with Retry-After
    the time for the queue to drain back within the budget, rounded up."""
    pool = InferencePool(concurrency=1, max_queue=100, latency_budget=2.0)
    pool.service_time = 0.5
    release = threading.Event()
    running = [asyncio.create_task(pool.run(blocking_job, release)) for _ in range(5)]
    await asyncio.sleep(0)
    assert pool.admitted == 5
    assert pool.expected_wait() == 2.5

    refusal = pool.refusal()
    assert refusal is not None
    assert refusal.headers == {"Retry-After": "1"}
    assert refusal.detail["expected_wait_s"] == 2.5
    assert refusal.detail["drain_rate_per_s"] == 2.0
    assert "over the latency budget of 2 s" in refusal.message
    pool.service_time = 2.0  # a slower model: the same queue is 10 s of waiting
    later = pool.refusal()
    assert later is not None and later.headers == {"Retry-After": "8"}

    release.set()
    assert await asyncio.gather(*running) == ["done"] * 5
    assert pool.refusal() is None  # drained: admitted again
    await asyncio.to_thread(pool.close)


def test_the_drain_rate_is_the_better_of_per_thread_time_and_observed_ends() -> None:
    # Threads that wait for a core: 65 ms a job on each of 2 threads says 31 jobs/s, while the
    # last 65 jobs ended 10 ms apart (100/s): the pool drains at the rate it finishes.
    contended = [i * 0.01 for i in range(65)]
    assert drain_rate(2, 0.065, contended) == pytest.approx(100.0)
    # A burst after a quiet minute: the ends span the idle gap; the threads' own time is right.
    after_idle = [0.0, 60.0, 60.02]
    assert drain_rate(2, 0.02, after_idle) == pytest.approx(100.0)
    assert drain_rate(1, 0.0, []) == 0.0  # nothing measured yet: no waits, no refusals by time


@ASYNC
async def test_the_service_time_is_measured_from_the_jobs() -> None:
    pool = InferencePool(concurrency=1)
    assert pool.service_time == 0.0  # nothing measured: only the queue bound applies
    await pool.run(threading.Event().wait, 0.01)
    await pool.run(threading.Event().wait, 0.01)
    assert pool.service_time > 0.0
    assert len(pool.finished) == 2
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


def test_a_burst_past_the_budget_gets_503_with_retry_after_and_the_service_recovers(
    model_dir: Path, tmp_path: Path
) -> None:
    """One inference thread and a latency budget of a millisecond: once one heavy request has
    measured the service time, of a burst of 40 the first is served and those that would wait
    behind it are refused at once, never queued; afterwards all is well."""
    settings = {"inference_concurrency": "1", "latency_budget_s": "0.001"}
    z = np.random.default_rng(0).standard_normal((256, LATENT_DIM)).round(3).tolist()
    body = {"z": z}
    with serve(model_dir, tmp_path, settings) as server:
        url = f"{server.url}/v1/models/fashion-vae-32d/decode"
        assert httpx.post(url, json=body, timeout=60).status_code == 200  # measures
        responses = asyncio.run(burst(server.url, body))
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) == {200, 503}, statuses
        for refused in (r for r in responses if r.status_code == 503):
            error = refused.json()["error"]
            assert error["code"] == "overloaded"
            assert "over the latency budget" in error["message"]
            # from the drain rate: the wait past the budget, rounded up to whole seconds
            assert int(refused.headers["Retry-After"]) == error["detail"]["retry_after_s"] >= 1
            assert "x-request-id" in refused.headers
        for served in (r for r in responses if r.status_code == 200):
            assert len(served.json()["images"]) == 256

        after = httpx.post(url, json=body, timeout=60)
        assert after.status_code == 200
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "vae_serve_inference_admitted 0.0" in metrics
        assert f"vae_serve_inference_refused_total {float(statuses[503])}" in metrics


def test_a_refusal_is_answered_before_the_body_is_read(model_dir: Path, tmp_path: Path) -> None:
    """With the only slot taken, a request that announces a body and never sends it is refused
    from its headers alone, on a connection kept alive for the next request."""
    with serve(model_dir, tmp_path, OVERLOADABLE) as server, occupied(server.url):
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            head = (
                f"POST /v1/models/{VAE}/decode HTTP/1.1\r\nHost: {host}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            )
            connection.sendall(head.encode())
            answer = connection.recv(65536).decode("latin-1")  # bounded by the socket timeout
        status_line, _, rest = answer.partition("\r\n")
        assert status_line == "HTTP/1.1 503 Service Unavailable", answer
        assert "retry-after: 1" in rest.lower()
        assert "connection: close" not in rest.lower()
        assert '"code":"overloaded"' in rest


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
