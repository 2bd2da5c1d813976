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
from tests.service.helpers import OPERATION_IDS

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
    assert f"Tested: {len(OPERATION_IDS)}" in result.stdout, (
        report
    )  # every operation, none filtered out
    assert " passed" in result.stdout and "failure" not in result.stdout.split("SUMMARY")[-1]


# The protocol, as the project serves it: the V2 routes are outside the service's OpenAPI document.
V2_DESCRIPTION = Path(__file__).with_name("v2-openapi.yaml")
V2_CONFIG = Path(__file__).with_name("schemathesis-v2.toml")


def test_the_v2_routes_match_the_protocols_description(live_server: Server, tmp_path: Path) -> None:
    """The V2 routes are outside the service's OpenAPI document: schemathesis reaches them through
    the description of the protocol the project ships for its tests."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(V2_CONFIG), "run",
        str(V2_DESCRIPTION), "--url", live_server.url, "--checks", "all", "--mode", "all",
        "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES * 5),
        "--seed", str(SEED), "--workers", "1", "--request-timeout", "30",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    report = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "Tested: 6" in result.stdout, report  # every V2 operation
    assert " passed" in result.stdout and "failure" not in result.stdout.split("SUMMARY")[-1]
