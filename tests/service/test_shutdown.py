"""Graceful shutdown of a real server process: on SIGTERM it turns not ready and closes each
connection after its response for VAE_SERVE_DRAIN_S, then stops accepting, answers what is in
flight (a request waiting in the batcher too) and exits 0. Bounded waits; no assertion on time."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from liveserver.server import Server
from tests.conftest import serve
from tests.service.helpers import OVERLOADABLE, VAE, admitted

pytestmark = pytest.mark.e2e

DECODE = f"/v1/models/{VAE}/decode"


def wait_for(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.02)


def exit_code(server: Server, timeout: float = 60) -> int:
    try:
        return server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not exit within {timeout} s of SIGTERM")


def readyz(server: Server) -> httpx.Response:
    return httpx.get(f"{server.url}/readyz", timeout=10)


def test_sigterm_turns_the_replica_not_ready_while_it_still_serves(
    model_dir: Path, tmp_path: Path
) -> None:
    with serve(model_dir, tmp_path, {"drain_s": "600"}) as server:
        assert readyz(server).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: readyz(server).status_code == 503, "readyz turning 503")
        assert readyz(server).json()["draining"] is True
        assert httpx.get(f"{server.url}/v2/health/ready", timeout=10).status_code == 400
        served = httpx.post(f"{server.url}{DECODE}", json={"z": [[0.0, 0.0]]}, timeout=30)
        assert served.status_code == 200, served.text  # still serving...
        assert served.headers["connection"] == "close"  # ...and sending clients elsewhere
        assert server.process.poll() is None
        server.process.send_signal(signal.SIGTERM)  # a second SIGTERM: stop waiting
        assert exit_code(server) == 0


def test_a_request_waiting_in_the_batcher_is_answered_before_the_exit(
    model_dir: Path, tmp_path: Path
) -> None:
    """OVERLOADABLE holds a request about a second in the batcher, waiting for batch-mates: the
    SIGTERM arrives meanwhile, and the request is still answered."""
    settings = OVERLOADABLE | {"drain_s": "0"}
    with serve(model_dir, tmp_path, settings) as server:
        answers: list[httpx.Response] = []
        body = {"z": [[0.5, -0.5]]}
        holder = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{server.url}{DECODE}", json=body, timeout=60)
            )
        )
        holder.start()
        wait_for(lambda: admitted(server.url) == 1, "the request reaching the batcher")
        server.process.send_signal(signal.SIGTERM)
        holder.join(timeout=60)
        assert exit_code(server) == 0
        (answer,) = answers
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["images"]) == 1
        with pytest.raises(httpx.ConnectError):  # closed for new connections
            httpx.get(f"{server.url}/healthz", timeout=5)
