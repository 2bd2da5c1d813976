"""A client generated from the live /openapi.json by openapi-python-client (PyPI), as a user would
make one: one module per operation named by its operation id, every module imports, and encode,
decode and sample called through it succeed and agree with the raw API."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from liveserver.server import Server
from tests.service.helpers import OPERATION_IDS, VAE, b64

pytestmark = pytest.mark.e2e

PACKAGE = "vae_serve_generated"
CONFIG = Path(__file__).parents[2] / "clients" / "openapi-python-client.yaml"  # as the README says
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="module")
def generated(
    live_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("generated")
    command = [
        str(GENERATOR), "generate", "--url", f"{live_server.url}/openapi.json",
        "--output-path", str(root / PACKAGE), "--meta", "none", "--config", str(CONFIG),
    ]  # fmt: skip
    # The generator formats its output with ruff, found on PATH.
    env = os.environ | {"PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "Warning" not in report and "Error" not in report, report  # nothing was skipped
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_every_generated_module_imports(generated: ModuleType) -> None:
    names = [m.name for m in pkgutil.walk_packages(generated.__path__, f"{PACKAGE}.")]
    for name in names:
        importlib.import_module(name)
    operations = {n.rsplit(".", 1)[1] for n in names if n.count(".") == 3 and ".api." in n}
    assert operations == OPERATION_IDS


def test_encode_decode_and_sample_through_the_generated_client(
    generated: ModuleType, live_server: Server, trouser: bytes
) -> None:
    models = module("models")
    latent = {name: module(f"api.latent_space.{name}") for name in ("encode", "decode", "sample")}
    with module("client").Client(base_url=live_server.url, timeout=60) as client:
        body = models.EncodeRequest(images=[b64(trouser)])
        encoded = latent["encode"].sync_detailed(VAE, client=client, body=body)
        decoded = latent["decode"].sync_detailed(
            VAE, client=client, body=models.DecodeRequest(z=[[0.5, -1.0]])
        )
        sampled = latent["sample"].sync_detailed(
            VAE, client=client, body=models.SampleRequest(n=2, seed=0)
        )
    assert encoded.status_code == 200
    raw = httpx.post(f"{live_server.url}/v1/models/{VAE}/encode", json={"images": [b64(trouser)]})
    assert encoded.parsed.z_mean == raw.json()["z_mean"]
    assert decoded.status_code == 200 and len(decoded.parsed.images) == 1
    assert sampled.status_code == 200 and len(sampled.parsed.images) == 2
    assert sampled.parsed.seed == 0


def test_the_map_and_its_sprite_through_the_generated_client(
    generated: ModuleType, live_server: Server
) -> None:
    maps = {name: module(f"api.latent_map.{name}") for name in ("get_map", "get_map_sprite")}
    with module("client").Client(base_url=live_server.url, timeout=60) as client:
        latent_map = maps["get_map"].sync_detailed(VAE, client=client)
        sprite = maps["get_map_sprite"].sync_detailed(VAE, client=client)
    assert latent_map.status_code == 200
    assert latent_map.parsed.count == len(latent_map.parsed.points) > 0
    assert sprite.status_code == 200 and sprite.parsed.payload.read()[8:12] == b"WEBP"
