"""The scaled profile (docker-compose.scaled.yml) under load and faults: two api replicas behind
nginx, 16 closed-loop clients decoding and encoding through the proxy while (a) one replica is
killed with SIGKILL, (b) each replica is restarted in turn with SIGTERM, and (c) a custom vector
written through the proxy is read and used through each replica directly. Each scenario reports
requests sent, failed, and the attempts nginx retried on the other replica (its error log); (a)
also reports the failures with the proxy's retries turned off.

The host only ever talks to 127.0.0.1 (the proxy's port, each replica's loopback port)."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.container.conftest import new_stack
from tests.container.helpers import API_KEY, Stack, json_of, png_b64, report, run, wait_healthy
from tests.container.load import Load, Tally

pytestmark = [pytest.mark.container, pytest.mark.timeout(2400)]

MODEL = "fashion-vae-2d"
TROUSER, ANKLE_BOOT = 1, 9
NO_RETRIES = "proxy_next_upstream off;\n"


@pytest.fixture(scope="module")
def scaled(
    runtime_image: str, proxy_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """`docker-compose -f docker-compose.scaled.yml up -d`: two replicas and the proxy, healthy."""
    images = {"VAE_SERVE_IMAGE": runtime_image, "VAE_SERVE_PROXY_IMAGE": proxy_image}
    folder = tmp_path_factory.mktemp("scaled")
    stack = new_stack("vae-serve-scaled", folder, images, files=("docker-compose.scaled.yml",))
    start = time.monotonic()
    stack.compose("up", "-d", "--no-build", timeout=300)
    try:
        for container in [*stack.containers("api"), stack.container("proxy")]:
            wait_healthy(container, timeout=180)
        report(f"scaled stack healthy in {time.monotonic() - start:.0f} s on port {stack.port}")
        yield stack
    finally:
        stack.compose("down", "--volumes", "--timeout", "30", timeout=300)


@pytest.fixture(scope="module")
def calls(fashion_test_images: tuple[np.ndarray, np.ndarray]) -> list[tuple[str, dict]]:
    pixels, _ = fashion_test_images
    base = f"/v1/models/{MODEL}"
    return [
        (f"{base}/decode", {"z": [[0.3, -0.7]]}),
        (f"{base}/encode", {"images": [png_b64(pixels[0])]}),
    ]


def proxy_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.port}"


def replica_url(container: str) -> str:
    """A replica's own port on 127.0.0.1 (docker-compose.scaled.yml publishes each)."""
    address = run(["docker", "port", container, "8000"], 30).stdout.split()[0]
    return f"http://{address}"


def proxy_retries(stack: Stack, since: str) -> int:
    """Attempts nginx saw fail before an answer since `since` (its error log, one line each)."""
    logs = subprocess.run(
        ["docker", "logs", "--since", since, stack.container("proxy")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = (logs.stdout + logs.stderr).splitlines()
    return sum("[error]" in line and "upstream" in line for line in lines)


def summary(name: str, tally: Tally, retried: int) -> str:
    failures = "; ".join(f"{n} x {kind}" for kind, n in tally.failures.most_common(3))
    return (f"{name}: {tally.sent} requests sent, {tally.failed} failed, {retried} attempts "
            f"retried by the proxy" + (f" ({failures})" if failures else ""))  # fmt: skip


def crash(container: str) -> None:
    """SIGKILL the replica's process from the host, as the kernel's OOM killer would: Docker
    sees it die and restarts it (`docker kill` would count as a deliberate stop)."""
    pid = int(run(["docker", "inspect", "-f", "{{.State.Pid}}", container], 30).stdout)
    os.kill(pid, 9)


def kill_one_under_load(stack: Stack, calls: list[tuple[str, dict]]) -> tuple[Tally, int]:
    victim = stack.containers("api")[0]
    since = str(int(time.time()))
    with Load(proxy_url(stack), {"X-API-Key": API_KEY}, calls) as load:
        load.wait_for_requests(300)
        crash(victim)
        load.wait_for_requests(1500)
    retried = proxy_retries(stack, since)
    wait_healthy(victim, timeout=180)  # the restart policy brings it back
    return load.tally, retried


def test_sigkill_of_one_replica_under_load_fails_no_request(
    scaled: Stack, calls: list[tuple[str, dict]], tmp_path: Path
) -> None:
    tally, retried = kill_one_under_load(scaled, calls)
    report(summary("SIGKILL of 1 of 2 replicas, proxy retries on", tally, retried))

    # The same with the proxy's retries off: what a client would see without them.
    retries = tmp_path / "retries.conf"
    retries.write_text(NO_RETRIES)
    override = tmp_path / "no-retries.yml"
    override.write_text(
        "services:\n  proxy:\n    volumes:\n"
        f"      - {retries}:/etc/nginx/vae-serve/retries.conf:ro\n"
    )
    bare = Stack(scaled.project, scaled.port, scaled.env, scaled.env_file,
                 files=(*scaled.files, str(override)))  # fmt: skip
    bare.compose("up", "-d", "--no-build", "--no-deps", "proxy", timeout=300)
    wait_healthy(bare.container("proxy"), timeout=120)
    try:
        without, _ = kill_one_under_load(bare, calls)
        report(summary("SIGKILL of 1 of 2 replicas, proxy retries off", without, 0))
    finally:
        scaled.compose("up", "-d", "--no-build", "--no-deps", "proxy", timeout=300)
        wait_healthy(scaled.container("proxy"), timeout=120)

    assert tally.sent >= 1800, tally
    assert tally.failed == 0, summary("with retries", tally, retried)


def test_a_rolling_sigterm_restart_under_load_fails_no_request(
    scaled: Stack, calls: list[tuple[str, dict]]
) -> None:
    since = str(int(time.time()))
    with Load(proxy_url(scaled), {"X-API-Key": API_KEY}, calls) as load:
        load.wait_for_requests(300)
        for replica in scaled.containers("api"):
            run(["docker", "restart", "--time", "30", replica], 120)  # SIGTERM, then start
            wait_healthy(replica, timeout=180)
            load.wait_for_requests(300)
    retried = proxy_retries(scaled, since)
    report(summary("rolling SIGTERM restart of 2 replicas", load.tally, retried))
    assert load.tally.sent >= 900, load.tally
    assert load.tally.failed == 0, summary("rolling restart", load.tally, retried)


def test_a_custom_vector_written_through_the_proxy_is_served_by_every_replica(
    scaled: Stack, fashion_test_images: tuple[np.ndarray, np.ndarray]
) -> None:
    """No replica caches vectors: each reads the shared data volume on every lookup, so the
    first read through each replica, right after the write, already finds the vector."""
    pixels, labels = fashion_test_images
    positive = [png_b64(pixels[i]) for i in np.flatnonzero(labels == TROUSER)[:4]]
    negative = [png_b64(pixels[i]) for i in np.flatnonzero(labels == ANKLE_BOOT)[:4]]
    name = f"trousers-{uuid.uuid4().hex[:6]}"
    headers = {"X-API-Key": API_KEY}
    replicas = [replica_url(container) for container in scaled.containers("api")]
    assert len(replicas) == 2
    url = f"{proxy_url(scaled)}/v1/models/{MODEL}/attributes/{name}"
    written = httpx.put(url, json={"positive": positive, "negative": negative},
                        headers=headers, timeout=60)  # fmt: skip
    wrote_at = time.monotonic()
    assert written.status_code == 201, written.text
    vector = written.json()["vector"]
    delays = []
    for replica in replicas:
        base = f"{replica}/v1/models/{MODEL}"
        read = json_of(httpx.get(f"{base}/attributes/{name}", headers=headers, timeout=30))
        delays.append(time.monotonic() - wrote_at)
        assert read["vector"] == vector
        edit = {"z": [[0.0, 0.0]], "attributes": {name: 1.0}}
        edited = json_of(httpx.post(f"{base}/edit", headers=headers, json=edit, timeout=30))
        assert np.allclose(edited["z"][0], vector, atol=1e-4)  # z + 1 x the vector
        assert base64.b64decode(edited["images"][0])[:8] == b"\x89PNG\r\n\x1a\n"
    report(f"custom vector read through each replica {[f'{d * 1000:.0f} ms' for d in delays]} "
           "after the write returned (first read, no retry)")  # fmt: skip
