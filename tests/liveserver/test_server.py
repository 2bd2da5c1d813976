"""`Server` starts the service on a free loopback port; when another process takes that port
first (a parallel test worker, say), it starts again on another instead of failing."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liveserver import server as server_module
from liveserver.processes import free_port
from liveserver.server import Server, ServerFailed

pytestmark = pytest.mark.e2e


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port some other process listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_server_whose_port_was_taken_starts_again_on_another(
    model_dir: Path, tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = iter([taken_port, free_port()])
    monkeypatch.setattr(server_module, "free_port", lambda: next(ports))
    with Server(model_dir, {}, tmp_path / "server.log") as server:
        assert server.port != taken_port
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200


def test_a_server_that_fails_otherwise_is_not_started_again(tmp_path: Path) -> None:
    crash = [sys.executable, "-c", "import sys; sys.exit('no bundles here')", "{port}"]
    with pytest.raises(ServerFailed, match="exited with 1") as failed:
        Server(tmp_path, {}, tmp_path / "server.log", command=crash)
    assert "no bundles here" in str(failed.value)
