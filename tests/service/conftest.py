"""Fixtures for the service tests: apps built with `create_app(Settings(...))` over the shipped
bundles, and writable copies of them. The shipped bundles, real Fashion-MNIST images and the live
server process are the root conftest's (one of each per test worker)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # Starlette: TestClient will move from httpx to httpx2; not yet
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import SHIPPED, serve  # noqa: F401  (imported from here by some tests)


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
