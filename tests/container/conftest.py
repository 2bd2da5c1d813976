"""The container deployment, end to end: a Docker engine, the stand-in base image, the project's
images built from its unchanged Dockerfile, and the compose stack on a free loopback port.

These tests run only when selected: `pytest -m container tests/container` (`make container-test`).
A plain `pytest` deselects them, since they take minutes and need root, dockerd, debootstrap and
docker-compose. In CI (VAE_SERVE_REQUIRE_ALL=1) a missing tool fails them instead of skipping.

VAE_SERVE_CONTAINER_CONTEXT builds from another folder (a copy of the repo with other bundles).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from liveserver.processes import free_port, stop_process
from tests.conftest import require, require_tool
from tests.container.helpers import (
    API_KEY,
    CONTEXT,
    Stack,
    report,
    run,
    tail,
    wait_healthy,
)
from training.datasets.fashion_mnist import read_idx

CONTAINER_DEPS = "sudo make container-deps"
RUNTIME_TAG = "vae-serve:container-test"
PROXY_TAG = "vae-serve-proxy:container-test"
TRAIN_TAG = "vae-serve-train:container-test"
BASE_TAG = "python:3.11-slim"
TORCH_INDEX_PORT = 38271


# -------------------------------------------------------------------------------------- engine


def _engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A running dockerd: the one already up, else one started here and stopped afterwards."""
    require_tool("docker", CONTAINER_DEPS)
    if _engine_answers():
        yield
        return
    require(os.geteuid() == 0, "root, to start dockerd", "sudo make container-test")
    log = (tmp_path_factory.mktemp("dockerd") / "dockerd.log").open("w")
    dockerd = subprocess.Popen(
        [require_tool("dockerd", CONTAINER_DEPS)], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while not _engine_answers():
        if dockerd.poll() is not None or time.monotonic() > deadline:
            dockerd.kill()
            pytest.fail(f"dockerd did not come up; see {log.name}")
        time.sleep(1)
    report(f"started dockerd (pid {dockerd.pid})")
    yield
    stop_process(dockerd, grace=30)
    log.close()


@pytest.fixture(scope="session")
def base_image(docker_engine: None) -> str:
    """The stand-in python:3.11-slim (kept between runs: the script skips an existing tag)."""
    if subprocess.run(["docker", "image", "inspect", BASE_TAG], capture_output=True).returncode:
        require_tool("debootstrap", CONTAINER_DEPS)
    start = time.monotonic()
    script = run(["bash", str(CONTEXT / "scripts/docker/base-image.sh"), BASE_TAG], timeout=900)
    report(script.stdout.strip())
    report(f"base image ready in {time.monotonic() - start:.0f} s")
    return BASE_TAG


def build(target: str | None, tag: str, timeout: float, *extra: str) -> None:
    """The image of Dockerfile's `target` (None: the one stage of the Dockerfile `extra` names)."""
    start = time.monotonic()
    stage = ["--target", target] if target is not None else []
    run(
        ["docker", "build", *stage, "--tag", tag, *extra, str(CONTEXT)],
        timeout=timeout,
        env=os.environ | {"DOCKER_BUILDKIT": "0"},  # the classic builder uses the local base tag
    )
    size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", tag], timeout=30).stdout)
    report(f"built {tag} in {time.monotonic() - start:.0f} s: {size / 1e6:.0f} MB")


@pytest.fixture(scope="session")
def runtime_image(base_image: str) -> str:
    build("runtime", RUNTIME_TAG, 900)
    return RUNTIME_TAG


@pytest.fixture(scope="session")
def proxy_image(base_image: str) -> str:
    """The scaled profile's nginx, built on the same base as the service's image."""
    build(None, PROXY_TAG, 900, "--file", str(CONTEXT / "deploy/compose/proxy.Dockerfile"))
    return PROXY_TAG


# ------------------------------------------------------------------------------ train image


def _torch_pin() -> str:
    text = (CONTEXT / "requirements/constraints.txt").read_text()
    match = re.search(r"^torch==(\S+)$", text, re.MULTILINE)
    assert match, "requirements/constraints.txt pins torch"
    return match.group(1)


@pytest.fixture(scope="session")
def torch_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A one-package index on 127.0.0.1 holding torch's CPU wheel, as pip on this host resolves it.

    The PyTorch index is not reachable here, and PyPI's Linux torch is the multi-GB CUDA build; the
    Dockerfile takes the index as a build argument, so the build uses this one over host networking.
    """
    root = tmp_path_factory.mktemp("torch-index")
    wanted = f"torch=={_torch_pin()}+cpu"
    got = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--dest", str(root / "torch"), wanted],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    require(
        got.returncode == 0,
        f"{wanted} from this host's pip: {tail(got.stderr, 5)}",
        f"pip download {wanted} (a CPU build of torch)",
    )
    server = _index_server(root)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def _index_server(root: Path) -> ThreadingHTTPServer:
    """On a fixed port when free: the URL is a build argument, and a new URL voids the cache."""
    handler = partial(_QuietHandler, directory=str(root))
    try:
        return ThreadingHTTPServer(("127.0.0.1", TORCH_INDEX_PORT), handler)
    except OSError:
        return ThreadingHTTPServer(("127.0.0.1", 0), handler)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def train_image(base_image: str, torch_index: str) -> str:
    index = f"TORCH_INDEX_URL={torch_index}"
    build("train", TRAIN_TAG, 1200, "--network", "host", "--build-arg", index)
    return TRAIN_TAG


# -------------------------------------------------------------------------------------- stack


def new_stack(
    name: str,
    folder: Path,
    images: dict[str, str],
    files: tuple[str, ...] = ("docker-compose.yml",),
) -> Stack:
    """A compose project on a free loopback port with the test's API key and `images`
    (VAE_SERVE_*_IMAGE variables), and an empty .env: none of a developer's settings."""
    require_tool("docker-compose", CONTAINER_DEPS)
    env_file = folder / ".env"
    env_file.write_text("")
    port = free_port()
    env = os.environ | images | {"VAE_SERVE_PUBLISH_PORT": str(port), "VAE_SERVE_API_KEY": API_KEY}
    return Stack(f"{name}-{uuid.uuid4().hex[:8]}", port, env, env_file, files)


@pytest.fixture(scope="session")
def stack(runtime_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`docker-compose up -d` on a free port, its api healthy; `down -v` afterwards."""
    images = {"VAE_SERVE_IMAGE": runtime_image, "VAE_SERVE_TRAIN_IMAGE": TRAIN_TAG}
    stack = new_stack("vae-serve-test", tmp_path_factory.mktemp("compose"), images)
    start = time.monotonic()
    stack.compose("up", "-d", "--no-build")
    try:
        wait_healthy(stack.container(), timeout=180)
        report(f"compose up to healthy in {time.monotonic() - start:.0f} s on port {stack.port}")
        yield stack
    finally:
        stack.compose("down", "--volumes", "--timeout", "20", timeout=180)


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    """A client of the published port, with the API key the stack was given."""
    base = f"http://127.0.0.1:{stack.port}"
    with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}, timeout=60) as client:
        yield client


# ------------------------------------------------------------------------------------- images


@pytest.fixture(scope="session")
def fashion_test_images(fashion_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's test split: uint8 pixels [10000, 28, 28] and labels [10000]."""
    pixels = read_idx(fashion_dir / "t10k-images-idx3-ubyte.gz", (10000, 28, 28))
    labels = read_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz", (10000,))
    return pixels, labels
