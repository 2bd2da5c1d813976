"""The service as a real process: `python -m service`, no torch, one 200. Start-up time is a
benchmark figure (`make bench`), not a timed assertion here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from liveserver.server import Server
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_python_m_service_serves_the_shipped_models(live_server: Server) -> None:
    response = httpx.post(
        f"{live_server.url}/v1/models/fashion-vae-2d/sample", json={"n": 2, "seed": 0}, timeout=10
    )
    assert response.status_code == 200
    assert len(response.json()["images"]) == 2
    assert httpx.get(f"{live_server.url}/docs", timeout=10).status_code == 200


def test_serving_never_imports_torch(model_dir: Path) -> None:
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.app import create_app\n"
        "from service.config import Settings\n"
        f"with TestClient(create_app(Settings(model_dir={str(model_dir)!r}))) as client:\n"
        "    response = client.post('/v1/models/fashion-vae-2d/sample', json={'n': 1})\n"
        "    assert response.status_code == 200\n"
        "sys.exit(3 if 'torch' in sys.modules else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
