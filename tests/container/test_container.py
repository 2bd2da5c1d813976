"""The runtime image and the compose stack, talked to through the port published on 127.0.0.1.

Run with `make container-test` (`pytest -m container -s tests/container`); see conftest.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.container.helpers import (
    Stack,
    decoded_png,
    json_of,
    png_b64,
    run,
    wait_healthy,
)

pytestmark = [pytest.mark.container, pytest.mark.timeout(2400)]

SIZE_BUDGET_BYTES = 600 * 10**6  # the runtime image: at most 600 MB uncompressed
TROUSER, ANKLE_BOOT = 1, 9  # Fashion-MNIST labels


@dataclass(frozen=True)
class ServedModel:
    name: str
    latent_dim: int
    width: int
    height: int


@pytest.fixture(scope="module")
def served(api: httpx.Client) -> ServedModel:
    """The first available Fashion-MNIST bundle the stack serves (the image's shipped ones)."""
    models = json_of(api.get("/v1/models"))["models"]
    assert isinstance(models, list)
    fashion = [m for m in models if m["available"] and m["image"]["channels"] == 1]
    assert fashion, f"no available grayscale bundle among {models}"
    m = fashion[0]
    return ServedModel(m["name"], m["latent_dim"], m["image"]["width"], m["image"]["height"])


def test_runtime_image_fits_the_size_budget(runtime_image: str) -> None:
    size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", runtime_image], 30).stdout)
    assert size <= SIZE_BUDGET_BYTES, f"{size / 1e6:.0f} MB"


def test_runtime_image_has_onnxruntime_and_no_torch(runtime_image: str) -> None:
    probe = (
        "import importlib.util as u; "
        "print(*(u.find_spec(m) is not None for m in ('onnxruntime', 'torch')))"
    )
    python = ["docker", "run", "--rm", "--entrypoint", "python", runtime_image]
    found = run([*python, "-c", probe], 120)
    assert found.stdout.split() == ["True", "False"]


def test_image_healthcheck_turns_healthy_on_a_read_only_root(runtime_image: str) -> None:
    name = f"vae-serve-test-{uuid.uuid4().hex[:8]}"
    run(
        [
            "docker",
            "run",
            "--detach",
            "--name",
            name,
            "--read-only",
            "--tmpfs",
            "/tmp",
            runtime_image,
        ],
        60,
    )
    try:
        wait_healthy(name, timeout=120)  # the image's own HEALTHCHECK: compose sets another
    finally:
        run(["docker", "rm", "--force", "--volumes", name], 60)


def test_vae_serve_serves_and_calls_in_the_runtime_image(runtime_image: str) -> None:
    """The console script runs the service, and its client commands reach it."""
    name = f"vae-serve-cli-{uuid.uuid4().hex[:8]}"
    command = ["docker", "run", "--detach", "--name", name, "--read-only", "--tmpfs", "/tmp"]
    run([*command, "--entrypoint", "vae-serve", runtime_image, "serve"], 60)
    try:
        wait_healthy(name, timeout=120)
        listed = run(["docker", "exec", name, "vae-serve", "models"], 60).stdout
        assert listed.startswith("MODEL") and "fashion-vae-2d" in listed
    finally:
        run(["docker", "rm", "--force", "--volumes", name], 60)


def test_compose_up_starts_the_api_alone(stack: Stack) -> None:
    assert stack.running_services() == ["api"]  # `train` waits behind its profile


def test_stack_is_ready_through_the_published_port(api: httpx.Client) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["ready"] is True


def test_encode_a_fashion_mnist_test_image(
    api: httpx.Client, served: ServedModel, fashion_test_images: tuple[np.ndarray, np.ndarray]
) -> None:
    pixels, labels = fashion_test_images
    trouser, boot = (int(np.flatnonzero(labels == k)[0]) for k in (TROUSER, ANKLE_BOOT))
    images = [png_b64(pixels[trouser]), png_b64(pixels[boot])]
    body = json_of(api.post(f"/v1/models/{served.name}/encode", json={"images": images}))
    z_mean = np.asarray(body["z_mean"])
    assert z_mean.shape == (2, served.latent_dim)
    assert np.isfinite(z_mean).all()
    assert not np.allclose(z_mean[0], z_mean[1])  # a trouser and a boot get different codes


def test_decode_returns_pngs_of_the_model_size(api: httpx.Client, served: ServedModel) -> None:
    z = [[0.0] * served.latent_dim, [1.0] * served.latent_dim]
    body = json_of(api.post(f"/v1/models/{served.name}/decode", json={"z": z}))
    images = [decoded_png(b64) for b64 in body["images"]]
    assert [image.size for image in images] == [(served.width, served.height)] * 2
    assert np.asarray(images[0]).std() > 0  # a picture, not a flat field


def test_sample_is_reproducible_by_seed(api: httpx.Client, served: ServedModel) -> None:
    first = json_of(api.post(f"/v1/models/{served.name}/sample", json={"n": 4, "seed": 0}))
    again = json_of(api.post(f"/v1/models/{served.name}/sample", json={"n": 4, "seed": 0}))
    assert len(first["images"]) == 4
    assert np.asarray(first["z"]).shape == (4, served.latent_dim)
    assert first["z"] == again["z"]
    assert first["images"] == again["images"]


def test_v1_calls_need_the_api_key_from_the_environment(stack: Stack, served: ServedModel) -> None:
    url = f"http://127.0.0.1:{stack.port}/v1/models/{served.name}/sample"
    response = httpx.post(url, json={"n": 1, "seed": 0}, timeout=30)
    assert response.status_code == 401


def test_api_runs_as_non_root(stack: Stack) -> None:
    uid = stack.exec("id", "-u")
    assert uid.returncode == 0, uid.stderr
    assert int(uid.stdout) != 0


def test_root_filesystem_is_read_only_but_data_and_tmp_are_writable(stack: Stack) -> None:
    root = stack.exec("touch", "/app/probe")
    assert root.returncode != 0
    assert "Read-only file system" in root.stderr
    for folder in ("/app/data", "/tmp"):
        probe = stack.exec("sh", "-c", f"touch {folder}/probe && rm {folder}/probe")
        assert probe.returncode == 0, f"{folder}: {probe.stderr}"


def test_custom_vector_is_written_to_the_data_volume(
    api: httpx.Client,
    stack: Stack,
    served: ServedModel,
    fashion_test_images: tuple[np.ndarray, np.ndarray],
) -> None:
    pixels, labels = fashion_test_images
    positive = [png_b64(pixels[i]) for i in np.flatnonzero(labels == TROUSER)[:3]]
    negative = [png_b64(pixels[i]) for i in np.flatnonzero(labels == ANKLE_BOOT)[:3]]
    url = f"/v1/models/{served.name}/attributes/e2e-trousers"
    response = api.put(url, json={"positive": positive, "negative": negative})
    assert response.status_code == 201, response.text
    assert len(response.json()["vector"]) == served.latent_dim
    saved = stack.exec("test", "-s", f"/app/data/{served.name}/attributes/e2e-trousers.json")
    assert saved.returncode == 0


def test_train_profile_adds_a_bundle_that_reload_serves(
    api: httpx.Client, stack: Stack, train_image: str, fashion_dir: Path
) -> None:
    name = "e2e-trained"
    stack.compose(
        "--profile", "train", "run", "--rm", "-T",
        "--volume", f"{fashion_dir}:/usr/share/datasets/fashion-mnist:ro",
        "train", "train", "--name", name, "--latent-dim", "2", "--epochs", "1",
        # Calibrated on the validation split, but not evaluated against the out-of-distribution
        # sets (minutes of scoring that this test of the container does not need).
        "--max-train-images", "1000", "--nll-samples", "1", "--ood-images", "0",
        timeout=1200,
    )  # fmt: skip
    response = api.post("/v1/admin/reload")
    assert response.status_code == 200, response.text
    outcomes = {entry["name"]: entry["outcome"] for entry in response.json()["models"]}
    assert outcomes[name] == "added", outcomes
    body = json_of(api.post(f"/v1/models/{name}/sample", json={"n": 2, "seed": 1}))
    assert np.asarray(body["z"]).shape == (2, 2)


def test_the_studio_and_the_latent_map_are_served_from_the_read_only_container(
    api: httpx.Client, served: ServedModel
) -> None:
    page = api.get("/")
    assert page.status_code == 200, page.text
    assert 'data-api-key="required"' in page.text  # the stack sets VAE_SERVE_API_KEY
    for asset in ("main.js", "map.js", "studio.css"):
        assert api.get(f"/studio/{asset}").status_code == 200, asset  # shipped in the wheel
    latent_map = json_of(api.get(f"/v1/models/{served.name}/map"))
    assert latent_map["count"] == 5000, latent_map["count"]
    sprite = api.get(f"/v1/models/{served.name}/map/sprite")
    assert sprite.status_code == 200 and sprite.headers["content-type"] == "image/webp"
