"""Start-up validation of bundles, /readyz, and broken bundles served as unavailable, whether
broken before start-up or while serving (seen by the disk watcher within its interval, which these
tests set short and wait for, bounded)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.helpers import assert_error, b64
from vae_core.bundle import read_manifest
from vae_core.files import sha256_file

pytestmark = pytest.mark.unit

BROKEN = "fashion-vae-2d"
WATCH_S = 0.02  # the disk watcher's interval in these tests


def watched(model_dir: Path) -> Settings:
    return Settings(model_dir=model_dir, disk_check_interval_s=WATCH_S)


def eventually(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Wait (bounded) for the disk watcher to see a change."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(WATCH_S)


def rewrite_manifest(bundle: Path, **changes: object) -> None:
    manifest = json.loads((bundle / "model.json").read_text())
    manifest.update(changes)
    (bundle / "model.json").write_text(json.dumps(manifest))


def rehash(bundle: Path) -> None:
    """Make the manifest's checksums match the files again (to get past the sha256 check)."""
    files = {name: sha256_file(bundle / name) for name in ("encoder.onnx", "decoder.onnx")}
    manifest = json.loads((bundle / "model.json").read_text())
    rewrite_manifest(bundle, files=manifest["files"] | files)


def test_readyz_is_503_before_loading_and_200_after(model_dir: Path) -> None:
    client = TestClient(create_app(Settings(model_dir=model_dir)))
    before = client.get("/readyz")  # the lifespan (which loads the models) has not run
    assert before.status_code == 503
    assert before.json() == {"ready": False, "models": [], "draining": False}
    with client:
        after = client.get("/readyz")
        assert after.status_code == 200
        assert after.json()["ready"] is True
        assert {m["name"] for m in after.json()["models"]} >= {"fashion-vae-2d", "fashion-ae-2d"}


def test_readyz_is_503_with_no_models(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(model_dir=tmp_path))) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["ready"] is False
        assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_only_bundle_is_broken(models_copy: Path, tmp_path: Path) -> None:
    only = tmp_path / "only"
    only.mkdir()
    shutil.move(models_copy / BROKEN, only / BROKEN)
    (only / BROKEN / "decoder.onnx").unlink()
    with TestClient(create_app(Settings(model_dir=only))) as client:
        assert client.get("/readyz").status_code == 503


def corrupt_checksum(bundle: Path) -> str:
    with (bundle / "encoder.onnx").open("r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    return "encoder.onnx: sha256 does not match"


def missing_file(bundle: Path) -> str:
    (bundle / "decoder.onnx").unlink()
    return "decoder.onnx: missing"


def bad_manifest(bundle: Path) -> str:
    (bundle / "model.json").write_text("{ not json")
    return "model.json: "


def wrong_kind(bundle: Path) -> str:
    rewrite_manifest(bundle, kind="ae")  # a VAE's encoder has z_log_var, an AE's must not
    return "outputs are z_mean"


def swapped_graphs(bundle: Path) -> str:
    encoder, decoder = bundle / "encoder.onnx", bundle / "decoder.onnx"
    encoder.rename(bundle / "tmp.onnx")
    decoder.rename(encoder)
    (bundle / "tmp.onnx").rename(decoder)
    rehash(bundle)
    return "encoder.onnx: inputs are z tensor(float)"


def wrong_latent_dim(bundle: Path) -> str:
    rewrite_manifest(bundle, latent_dim=3, latent_prior={"kind": "standard_normal"})
    return "attributes.json: vector 'T-shirt/top' has 2 dims, not 3"


def latent_dim_over_the_limit(bundle: Path) -> str:
    rewrite_manifest(bundle, latent_dim=5000, latent_prior={"kind": "standard_normal"})
    return "latent_dim"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "corrupt",
    [
        corrupt_checksum, missing_file, bad_manifest, wrong_kind, swapped_graphs,
        wrong_latent_dim, latent_dim_over_the_limit,
    ],
)  # fmt: skip
def test_a_broken_bundle_is_listed_unavailable_and_the_others_serve(
    models_copy: Path, trouser: bytes, caplog: pytest.LogCaptureFixture, corrupt: object
) -> None:
    assert callable(corrupt)
    reason = corrupt(models_copy / BROKEN)
    with (
        caplog.at_level(logging.ERROR),
        # fp32: the graphs corrupted are encoder.onnx and decoder.onnx (int8 would not load them)
        TestClient(create_app(Settings(model_dir=models_copy, precision="fp32"))) as client,
    ):
        assert client.get("/readyz").status_code == 200  # every *valid* bundle is loaded
        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert models[BROKEN]["available"] is False
        assert reason in models[BROKEN]["reason"]
        assert models["fashion-ae-2d"]["available"] is True
        response = client.post(f"/v1/models/{BROKEN}/encode", json={"images": [b64(trouser)]})
        assert reason in assert_error(response, 503, "model_unavailable")["message"]
        assert_error(client.get(f"/v1/models/{BROKEN}"), 503, "model_unavailable")
        ok = client.post("/v1/models/fashion-ae-2d/encode", json={"images": [b64(trouser)]})
        assert ok.status_code == 200
    logged = [r.getMessage() for r in caplog.records if r.name == "vae_serve.registry"]
    assert any(BROKEN in line and reason in line for line in logged), logged


def test_staging_folders_of_the_exporter_are_ignored(models_copy: Path) -> None:
    shutil.copytree(models_copy / BROKEN, models_copy / f".{BROKEN}.staging")
    with TestClient(create_app(Settings(model_dir=models_copy))) as client:
        names = [m["name"] for m in client.get("/v1/models").json()["models"]]
        assert f".{BROKEN}.staging" not in names


def deleted_manifest(bundle: Path) -> str:
    (bundle / "model.json").unlink()
    return "model.json: missing"


def replaced_by_a_truncated_copy(bundle: Path) -> str:
    """The way most tools rewrite a file: a new file renamed over the old one (a new inode)."""
    encoder = bundle / "encoder.onnx"
    (bundle / "partial").write_bytes(encoder.read_bytes()[:-10])
    (bundle / "partial").replace(encoder)
    return "encoder.onnx: sha256 does not match"


def states(client: TestClient, path: str) -> dict[str, dict[str, object]]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return {model["name"]: model for model in response.json()["models"]}


@pytest.mark.parametrize(
    "corrupt", [corrupt_checksum, missing_file, deleted_manifest, replaced_by_a_truncated_copy]
)
def test_a_file_broken_while_serving_makes_only_its_model_unavailable(
    models_copy: Path, trouser: bytes, caplog: pytest.LogCaptureFixture, corrupt: object
) -> None:
    assert callable(corrupt)
    body = {"images": [b64(trouser)]}
    with TestClient(create_app(watched(models_copy))) as client:
        assert client.post(f"/v1/models/{BROKEN}/encode", json=body).status_code == 200
        with caplog.at_level(logging.ERROR):
            reason = corrupt(models_copy / BROKEN)
            eventually(lambda: client.get(f"/v1/models/{BROKEN}").status_code == 503, "503")
            response = client.post(f"/v1/models/{BROKEN}/encode", json=body)
        assert reason in assert_error(response, 503, "model_unavailable")["message"]
        assert_error(client.get(f"/v1/models/{BROKEN}"), 503, "model_unavailable")
        for path in ("/readyz", "/v1/models"):
            listed = states(client, path)
            assert listed[BROKEN]["available"] is False
            assert reason in str(listed[BROKEN]["reason"])
            assert listed["fashion-ae-2d"]["available"] is True
        ok = client.post("/v1/models/fashion-ae-2d/encode", json=body)
        assert ok.status_code == 200
        assert "vae_serve_models_unavailable 1.0" in client.get("/metrics").text
    logged = [r.getMessage() for r in caplog.records if r.name == "vae_serve.registry"]
    assert any(BROKEN in line and reason in line for line in logged), logged


def test_a_restored_file_makes_the_model_serve_again(models_copy: Path) -> None:
    encoder = models_copy / BROKEN / "encoder.onnx"
    original = encoder.read_bytes()
    with TestClient(create_app(watched(models_copy))) as client:
        corrupt_checksum(models_copy / BROKEN)
        eventually(lambda: client.get(f"/v1/models/{BROKEN}").status_code == 503, "503")
        assert_error(client.get(f"/v1/models/{BROKEN}"), 503, "model_unavailable")
        encoder.write_bytes(original)
        eventually(lambda: client.get(f"/v1/models/{BROKEN}").status_code == 200, "200 again")
        assert states(client, "/readyz")[BROKEN] == {
            "name": BROKEN,
            "available": True,
            "reason": None,
        }


def test_the_files_are_hashed_again_only_when_their_stamps_change(
    models_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []

    def counting(path: Path) -> str:
        hashed.append(path.parent.name)
        return sha256_file(path)

    with TestClient(create_app(watched(models_copy))) as client:
        monkeypatch.setattr("vae_core.bundle.sha256_file", counting)
        time.sleep(20 * WATCH_S)  # the watcher checks the unchanged files many times
        for _ in range(3):
            assert client.get(f"/v1/models/{BROKEN}").status_code == 200
            assert client.get("/readyz").status_code == 200
        assert hashed == []  # unchanged stamps: stat only
        os.utime(models_copy / BROKEN / "decoder.onnx")  # a new mtime, the same bytes
        eventually(lambda: len(hashed) >= 4, "hashing the changed bundle")
        time.sleep(20 * WATCH_S)
        assert client.get(f"/v1/models/{BROKEN}").status_code == 200
        assert set(hashed) == {BROKEN}
        listed = read_manifest(models_copy / BROKEN).files
        assert len(hashed) == 1 + len(listed)  # once: model.json and the files it lists
