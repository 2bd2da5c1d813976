"""Fixtures for the service tests: the shipped bundles, real Fashion-MNIST test images, and apps
built with `create_app(Settings(...))`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():  # Starlette: TestClient will move from httpx to httpx2; not yet
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from bench.harness import stop_process
from service.app import create_app
from service.config import Settings
from tests.conftest import MODELS_DIR, ROOT, require
from tests.service.helpers import png
from training.data import load_fashion_mnist

SHIPPED = ("fashion-vae-32d", "fashion-vae-2d", "fashion-ae-2d")
# The shipped bundles; another folder of bundles with the same names can stand in while developing.
SHIPPED_DIR = Path(os.environ.get("VAE_SERVE_TEST_MODEL_DIR", MODELS_DIR))


@pytest.fixture(scope="session")
def model_dir() -> Path:
    missing = [name for name in SHIPPED if not (SHIPPED_DIR / name / "model.json").is_file()]
    require(not missing, f"the shipped bundles {missing} in {SHIPPED_DIR} (make train-shipped)")
    return SHIPPED_DIR


@pytest.fixture(scope="session")
def fashion_pngs(fashion_dir: Path) -> dict[str, list[bytes]]:
    """The first 8 Fashion-MNIST test images of each class, as PNG files."""
    test = load_fashion_mnist(fashion_dir).test
    return {
        name: [png(test.pixels[i]) for i in (test.labels == label).nonzero()[0][:8]]
        for label, name in enumerate(test.label_names)
    }


@pytest.fixture(scope="session")
def trouser(fashion_pngs: dict[str, list[bytes]]) -> bytes:
    return fashion_pngs["Trouser"][0]


@pytest.fixture(scope="session")
def boot(fashion_pngs: dict[str, list[bytes]]) -> bytes:
    return fashion_pngs["Ankle boot"][0]


@pytest.fixture(scope="session")
def client(model_dir: Path) -> Iterator[TestClient]:
    """One app over the shipped models, for tests that change nothing."""
    with TestClient(create_app(Settings(model_dir=model_dir))) as test_client:
        yield test_client


@pytest.fixture
def models_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the shipped Fashion-MNIST bundles, to break, replace or extend."""
    target = tmp_path / "models"
    for name in SHIPPED:
        shutil.copytree(model_dir / name, target / name)
    return target


@dataclass(frozen=True)
class LiveServer:
    url: str
    pid: int
    startup_seconds: float  # process start to the first 200 from /readyz


@pytest.fixture(scope="session")
def live_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`python -m service` as a real process on a free loopback port."""
    with serve(model_dir, tmp_path_factory.mktemp("live-data")) as server:
        yield server


@contextmanager
def serve(
    model_dir: Path, data_dir: Path, settings: Mapping[str, str] | None = None
) -> Iterator[LiveServer]:
    """Run `python -m service` on a free loopback port until the block ends, then stop it (only
    this process). `settings` are extra `VAE_SERVE_*` variables; its log is data_dir/server.log."""
    port = free_port()
    command = [
        sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port),
        "--model-dir", str(model_dir), "--data-dir", str(data_dir), "--log-level", "warning",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_SERVE_")}
    env |= {f"VAE_SERVE_{key.upper()}": value for key, value in (settings or {}).items()}
    log_path = data_dir / "server.log"
    log = log_path.open("w")  # a file, never a pipe nobody drains
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=log, stdout=log)
    try:
        url = f"http://127.0.0.1:{port}"
        startup = wait_until_ready(url, process, log_path, timeout=60)
        yield LiveServer(url=url, pid=process.pid, startup_seconds=startup - start)
    finally:
        stop_process(process)
        log.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> float:
    """Poll /readyz (bounded) and return the time of the first 200."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            output = log.read_text()[-3000:]
            pytest.fail(f"the server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return time.perf_counter()
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    pytest.fail(f"the server was not ready within {timeout} s")
