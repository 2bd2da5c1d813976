"""Fixtures for the service tests: the shipped bundles, real Fashion-MNIST test images, and apps
built with `create_app(Settings(...))`."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

with warnings.catch_warnings():  # Starlette: TestClient will move from httpx to httpx2; not yet
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from liveserver.server import Server, ServerFailed
from service.app import create_app
from service.config import Settings
from tests.conftest import MODELS_DIR, require
from tests.service.helpers import png
from training.datasets.fashion_mnist import load_fashion_mnist

SHIPPED = ("fashion-vae-32d", "fashion-vae-2d", "fashion-ae-2d")
# The shipped bundles; another folder of bundles with the same names can stand in while developing.
SHIPPED_DIR = Path(os.environ.get("VAE_SERVE_TEST_MODEL_DIR", MODELS_DIR))


@pytest.fixture(scope="session")
def model_dir() -> Path:
    missing = [name for name in SHIPPED if not (SHIPPED_DIR / name / "model.json").is_file()]
    require(not missing, f"the shipped bundles {missing} in {SHIPPED_DIR}", "make train-shipped")
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


@pytest.fixture(scope="session")
def live_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m service` as a real process on a free loopback port."""
    with serve(model_dir, tmp_path_factory.mktemp("live-data")) as server:
        yield server


@contextmanager
def serve(
    model_dir: Path, data_dir: Path, settings: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """The bench harness's server, failing the test if it does not come up. `settings` are extra
    `VAE_SERVE_*` variables, without the prefix; its log is data_dir/server.log."""
    env = {f"VAE_SERVE_{key.upper()}": value for key, value in (settings or {}).items()}
    try:
        server = Server(model_dir, env, data_dir / "server.log", data_dir=data_dir)
    except ServerFailed as error:
        pytest.fail(str(error))
    with server:
        yield server
