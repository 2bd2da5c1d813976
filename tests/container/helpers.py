"""Helpers of the container tests: commands with bounded time, the compose project, PNG codecs."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, require_tool

CONTEXT = Path(os.environ.get("VAE_SERVE_CONTAINER_CONTEXT", ROOT))
API_KEY = "container-test-key"

# ------------------------------------------------------------------------------------ commands


def run(
    args: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it exits non-zero or times out."""
    command = " ".join(args)
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{command} took over {timeout:.0f} s\n{tail(exc.stdout)}{tail(exc.stderr)}")
    if done.returncode != 0:
        pytest.fail(f"{command} exited {done.returncode}\n{tail(done.stdout)}{tail(done.stderr)}")
    return done


def tail(output: str | bytes | None, lines: int = 60) -> str:
    """The last lines of a command's output, for a failure message."""
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    return "\n".join((output or "").splitlines()[-lines:]) + "\n"


def tool(name: str) -> str:
    """An executable from this interpreter's environment (pip-installed tools), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else require_tool(name, "sudo make container-deps")


def report(message: str) -> None:
    """Progress and timings, shown live with `pytest -s`."""
    print(f"\n[container] {message}", flush=True)


def wait_healthy(container: str, timeout: float) -> None:
    """Poll the container's health until `healthy`; fail with its last log lines otherwise."""
    deadline = time.monotonic() + timeout
    inspect = ["docker", "inspect", "-f", "{{.State.Health.Status}}", container]
    while (status := run(inspect, 30).stdout.strip()) != "healthy":
        if status == "unhealthy" or time.monotonic() > deadline:
            logs = subprocess.run(
                ["docker", "logs", "--tail", "40", container],
                capture_output=True,
                text=True,
                timeout=30,
            )
            pytest.fail(
                f"{container} is {status} ({timeout:.0f} s at most):\n{logs.stdout}{logs.stderr}"
            )
        time.sleep(1)


@dataclass(frozen=True)
class Stack:
    """A compose project on its own name and port; `compose(...)` runs docker-compose in it."""

    project: str
    port: int
    env: dict[str, str]
    env_file: Path
    files: tuple[str, ...] = ("docker-compose.yml",)  # in CONTEXT, then overrides (any path)

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        project = ["--project-name", self.project, "--env-file", str(self.env_file)]
        files = [part for name in self.files for part in ("--file", str(CONTEXT / name))]
        return run(["docker-compose", *project, *files, *args], timeout=timeout, env=self.env)

    def container(self, service: str = "api") -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    def containers(self, service: str = "api") -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()

    def running_services(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.project}"
        listing = [
            "docker",
            "ps",
            "--filter",
            label,
            "--format",
            '{{.Label "com.docker.compose.service"}}',
        ]
        return sorted(run(listing, 30).stdout.split())

    def exec(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "exec", self.container(), *args], capture_output=True, text=True, timeout=60
        )


# ------------------------------------------------------------------------------------- images


def png_b64(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decoded_png(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The body of a 2xx response; otherwise the failure shows the status and the body."""
    assert response.is_success, f"{response.status_code}: {response.text[:500]}"
    body = json.loads(response.content)
    assert isinstance(body, dict)
    return body
