"""Schema fuzzing: schemathesis (PyPI) generates requests from the running service's OpenAPI
document, positive and negative, and runs every check on every response: no server error, no
status, header, content type or body outside the schema. Bounded: a fixed number of examples per
operation and a fixed seed, so a failure reproduces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from liveserver.server import Server

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")  # says why some valid data gets a 4xx
MAX_EXAMPLES = 20
SEED = 20261124


def test_the_api_matches_its_schema(live_server: Server, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
        f"{live_server.url}/openapi.json", "--checks", "all", "--mode", "all",
        "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED), "--workers", "1", "--request-timeout", "30",
    ]  # fmt: skip
    # In a scratch folder: schemathesis keeps its cache and examples database in the cwd.
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    report = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "Tested: 19" in result.stdout, report  # every operation, none filtered out
    assert " passed" in result.stdout and "failure" not in result.stdout.split("SUMMARY")[-1]
