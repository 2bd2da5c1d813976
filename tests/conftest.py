"""Shared fixtures. A test that needs a dataset or a tool calls `require(...)`: on a user's machine
it skips when the thing is missing; in CI (VAE_SERVE_REQUIRE_ALL=1) it fails instead."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
FASHION_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def require(available: bool, what: str) -> None:
    """Skip (user machine) or fail (CI) when a needed dataset or tool is missing."""
    if available:
        return
    if os.environ.get("VAE_SERVE_REQUIRE_ALL") == "1":
        pytest.fail(f"required in CI but missing: {what}")
    pytest.skip(f"missing: {what}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"the {name} executable (see `make system-deps`)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    present = (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file()
    require(
        present, f"Fashion-MNIST IDX files in {FASHION_DIR} (apt-get install dataset-fashion-mnist)"
    )
    return FASHION_DIR
