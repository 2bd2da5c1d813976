"""POST /v1/admin/reload: new bundles appear, replaced ones swap in only once valid."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.helpers import assert_error

pytestmark = pytest.mark.unit

REPLACED = "fashion-vae-2d"


@pytest.fixture
def client(models_copy: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=models_copy))) as test_client:
        yield test_client


def outcomes(response: object) -> dict[str, str]:
    assert hasattr(response, "json")
    return {entry["name"]: entry["outcome"] for entry in response.json()["models"]}


def latent_dim(client: TestClient, name: str) -> int:
    response = client.get(f"/v1/models/{name}")
    assert response.status_code == 200
    dim: int = response.json()["latent_dim"]
    return dim


def replace_with(models: Path, name: str, source: str) -> None:
    """Swap a bundle's folder for a copy of another bundle, as the exporter does."""
    staging = models / f".{name}.staging"
    shutil.copytree(models / source, staging)
    shutil.rmtree(models / name)
    staging.rename(models / name)


def test_reload_with_nothing_changed(client: TestClient) -> None:
    response = client.post("/v1/admin/reload")
    assert response.status_code == 200
    assert set(outcomes(response).values()) == {"unchanged"}


def test_a_new_bundle_appears(client: TestClient, models_copy: Path) -> None:
    shutil.copytree(models_copy / "fashion-ae-2d", models_copy / "fashion-ae-2d-copy")
    assert_error(client.get("/v1/models/fashion-ae-2d-copy"), 404, "model_not_found")
    response = client.post("/v1/admin/reload")
    assert response.status_code == 200
    assert outcomes(response)["fashion-ae-2d-copy"] == "added"
    sample = client.post("/v1/models/fashion-ae-2d-copy/sample", json={"n": 2, "seed": 0})
    assert sample.status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_replaced_bundle_serves_its_old_version_until_reloaded(
    client: TestClient, models_copy: Path
) -> None:
    replace_with(models_copy, REPLACED, "fashion-vae-32d")
    # On disk it is now 32-d; the running service still serves the validated 2-d version.
    assert latent_dim(client, REPLACED) == 2
    old = client.post(f"/v1/models/{REPLACED}/decode", json={"z": [[0.0, 0.0]]})
    assert old.status_code == 200
    response = client.post("/v1/admin/reload")
    assert response.status_code == 200
    assert outcomes(response)[REPLACED] == "replaced"
    assert latent_dim(client, REPLACED) == 32
    new = client.post(f"/v1/models/{REPLACED}/decode", json={"z": [[0.0] * 32]})
    assert new.status_code == 200


def test_a_corrupt_replacement_keeps_the_old_version(client: TestClient, models_copy: Path) -> None:
    replace_with(models_copy, REPLACED, "fashion-vae-32d")
    (models_copy / REPLACED / "decoder.onnx").write_bytes(b"truncated")
    response = client.post("/v1/admin/reload")
    assert response.status_code == 200
    entry = next(e for e in response.json()["models"] if e["name"] == REPLACED)
    assert entry["outcome"] == "kept_previous"
    assert "decoder.onnx" in entry["reason"]
    assert latent_dim(client, REPLACED) == 2
    assert client.post(f"/v1/models/{REPLACED}/sample", json={"n": 1}).status_code == 200
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert listed[REPLACED]["available"] is True
    assert "previous version" in listed[REPLACED]["reason"]
    assert client.get("/readyz").status_code == 200


def test_a_fixed_bundle_is_loaded_on_reload(models_copy: Path) -> None:
    manifest = models_copy / "fashion-ae-2d" / "model.json"
    good = manifest.read_text()
    manifest.write_text("{}")
    with TestClient(create_app(Settings(model_dir=models_copy))) as fresh:
        assert_error(fresh.get("/v1/models/fashion-ae-2d"), 503, "model_unavailable")
        manifest.write_text(good)
        response = fresh.post("/v1/admin/reload")
        assert outcomes(response)["fashion-ae-2d"] == "added"
        assert fresh.get("/v1/models/fashion-ae-2d").status_code == 200


def test_a_removed_bundle_is_dropped(client: TestClient, models_copy: Path) -> None:
    shutil.rmtree(models_copy / "fashion-ae-2d")
    response = client.post("/v1/admin/reload")
    assert outcomes(response)["fashion-ae-2d"] == "removed"
    assert_error(client.get("/v1/models/fashion-ae-2d"), 404, "model_not_found")


def truncated_encoder(bundle: Path) -> str:
    encoder = bundle / "encoder.onnx"
    encoder.write_bytes(encoder.read_bytes()[:-10])
    return "encoder.onnx: sha256 does not match"


def deleted_manifest(bundle: Path) -> str:
    (bundle / "model.json").unlink()
    return "model.json: missing"


@pytest.mark.parametrize("corrupt", [truncated_encoder, deleted_manifest])
def test_a_file_broken_in_place_is_unavailable_at_every_reload_until_restored(
    client: TestClient, models_copy: Path, corrupt: object
) -> None:
    """Not a new version (model.json is the served one, or gone): the served version's files are
    broken, so it is unavailable with the reason, and the other models keep serving."""
    assert callable(corrupt)
    saved = models_copy.parent / "saved"
    shutil.copytree(models_copy / REPLACED, saved)
    reason = corrupt(models_copy / REPLACED)
    for _ in range(2):
        response = client.post("/v1/admin/reload")
        assert response.status_code == 200
        entry = next(e for e in response.json()["models"] if e["name"] == REPLACED)
        assert entry["outcome"] == "unavailable"
        assert reason in entry["reason"]
        assert set(outcomes(response).values()) == {"unavailable", "unchanged"}
        error = assert_error(
            client.post(f"/v1/models/{REPLACED}/sample", json={"n": 1}), 503, "model_unavailable"
        )
        assert reason in error["message"]
        listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert listed[REPLACED]["available"] is False and reason in listed[REPLACED]["reason"]
        assert client.post("/v1/models/fashion-ae-2d/sample", json={"n": 1}).status_code == 200
        assert client.get("/readyz").status_code == 200
    shutil.rmtree(models_copy / REPLACED)
    saved.rename(models_copy / REPLACED)
    assert outcomes(client.post("/v1/admin/reload"))[REPLACED] == "unchanged"
    assert client.post(f"/v1/models/{REPLACED}/sample", json={"n": 1}).status_code == 200


def test_reload_needs_the_api_key_when_set(models_copy: Path) -> None:
    key = "reload-key-123456"
    with TestClient(create_app(Settings(model_dir=models_copy, api_key=key))) as guarded:
        assert_error(guarded.post("/v1/admin/reload"), 401, "unauthorized")
        response = guarded.post("/v1/admin/reload", headers={"X-API-Key": key})
        assert response.status_code == 200
        assert json.dumps(response.json())
