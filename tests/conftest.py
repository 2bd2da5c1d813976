"""Shared fixtures. A test that needs a dataset or a tool calls `require(...)`: on a user's machine
it skips when the thing is missing, and the run ends by listing every skipped test with the command
that would enable it; in CI (VAE_SERVE_REQUIRE_ALL=1) it fails instead."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from training.datasets.fashion_mnist import find_fashion_mnist
from training.errors import DatasetNotFound

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
# Debian's packages for the data and tools of the suite (`make test` installs them itself as root).
SYSTEM_DEPS = "sudo make system-deps"
ENABLE = "; enable with: "


def require(available: bool, what: str, enable: str = SYSTEM_DEPS) -> None:
    """Skip (user machine) or fail (CI) when a needed dataset or tool is missing; `enable` is the
    one command that would provide it."""
    if available:
        return
    if os.environ.get("VAE_SERVE_REQUIRE_ALL") == "1":
        pytest.fail(f"required in CI but missing: {what}{ENABLE}{enable}")
    pytest.skip(f"missing: {what}{ENABLE}{enable}")


def require_tool(name: str, enable: str = SYSTEM_DEPS) -> str:
    path = shutil.which(name)
    require(path is not None, f"the {name} executable", enable)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The Fashion-MNIST IDX files: $FASHION_MNIST_DIR, Debian's dataset-fashion-mnist, or a
    checksummed download into ~/.cache/vae-serve when the network allows."""
    try:
        return find_fashion_mnist()
    except DatasetNotFound as missing:
        require(False, f"Fashion-MNIST ({str(missing).splitlines()[0]})")
        raise


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the run: every test that was skipped for want of data or a tool, by the command that
    would enable it."""
    by_command: dict[str, list[str]] = defaultdict(list)
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        command = reason.split(ENABLE, 1)[1] if ENABLE in reason else "(see the reason above)"
        by_command[command].append(report.nodeid)
    if not by_command:
        return
    terminalreporter.section("skipped: what would run them")
    for command, tests in by_command.items():
        terminalreporter.write_line(f"{len(tests)} skipped; to run them: {command}")
        for nodeid in tests:
            terminalreporter.write_line(f"  {nodeid}")
