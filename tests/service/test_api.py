"""The HTTP API's contract (every endpoint, status and field), on the shipped models and real
Fashion-MNIST test images."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.app import create_app
from service.config import Settings
from service.operations.latent import LatentOperations
from service.runtime import in_pool
from tests.conftest import SHIPPED
from tests.service.helpers import b64, pixels
from vae_core.bundle import read_manifest

pytestmark = pytest.mark.unit

VAE_2D, AE_2D = "fashion-vae-2d", "fashion-ae-2d"


def test_list_models_shows_every_shipped_model(client: TestClient) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    models = {m["name"]: m for m in response.json()["models"]}
    assert set(SHIPPED) <= set(models)
    assert models["fashion-vae-32d"]["latent_dim"] == 32
    assert models[AE_2D]["kind"] == "ae"
    assert models[VAE_2D]["image"] == {"channels": 1, "height": 32, "width": 32}
    assert "Trouser" in models[VAE_2D]["attributes"]
    assert all(models[name]["available"] for name in SHIPPED)


def test_model_detail_has_dataset_preprocessing_and_metrics(client: TestClient) -> None:
    response = client.get(f"/v1/models/{VAE_2D}")
    assert response.status_code == 200
    detail = response.json()
    assert detail["dataset"]["name"] == "fashion-mnist"
    assert detail["preprocessing"]["pad"] == 2
    assert "test_mse_per_pixel" in detail["metrics"]
    assert detail["latent_prior"]["kind"] == "standard_normal"


@pytest.mark.parametrize("name", SHIPPED)
def test_encode_equals_a_direct_onnx_runtime_run(
    client: TestClient, model_dir: Path, fashion_pngs: dict[str, list[bytes]], name: str
) -> None:
    images = fashion_pngs["Trouser"][:3] + fashion_pngs["Bag"][:2]
    response = client.post(f"/v1/models/{name}/encode", json={"images": [b64(i) for i in images]})
    assert response.status_code == 200
    body = response.json()
    # The same images, prepared by hand: 28x28 -> pad 2 -> [0, 1], run by a fresh session.
    batch = np.stack([np.asarray(Image.open(io.BytesIO(i))) for i in images])
    scale = read_manifest(model_dir / name).preprocessing.scale
    batch = np.pad(batch.astype(np.float32) * np.float32(scale), ((0, 0), (2, 2), (2, 2)))[:, None]
    # The graph the model serves (encoder.int8.onnx at int8; see test_precision).
    served = read_manifest(model_dir / name).graph_files(
        client.get(f"/v1/models/{name}").json()["precision"]
    )
    session = ort.InferenceSession(str(model_dir / name / served["encoder"]))
    expected = session.run(None, {"image": batch})
    np.testing.assert_allclose(body["z_mean"], expected[0], rtol=0, atol=1e-5)
    if name == AE_2D:
        assert body["z_log_var"] is None
    else:
        np.testing.assert_allclose(body["z_log_var"], expected[1], rtol=0, atol=1e-5)
    assert body["z"] is None


@pytest.mark.parametrize("name", SHIPPED)
def test_decode_of_encode_equals_reconstruct(
    client: TestClient, fashion_pngs: dict[str, list[bytes]], name: str
) -> None:
    images = [b64(i) for i in fashion_pngs["Dress"][:2] + fashion_pngs["Sneaker"][:2]]
    encoded = client.post(f"/v1/models/{name}/encode", json={"images": images})
    decoded = client.post(f"/v1/models/{name}/decode", json={"z": encoded.json()["z_mean"]})
    reconstructed = client.post(f"/v1/models/{name}/reconstruct", json={"images": images})
    assert (encoded.status_code, decoded.status_code, reconstructed.status_code) == (200, 200, 200)
    assert decoded.json()["images"] == reconstructed.json()["images"]
    assert reconstructed.json()["z_mean"] == encoded.json()["z_mean"]


def test_reconstruction_resembles_the_input(
    client: TestClient, fashion_pngs: dict[str, list[bytes]]
) -> None:
    images = [fashion_pngs[name][0] for name in ("Trouser", "Bag", "Sneaker", "Dress")]
    body = {"images": [b64(i) for i in images]}
    response = client.post("/v1/models/fashion-vae-32d/reconstruct", json=body)
    assert response.status_code == 200
    outputs = [pixels(i) for i in response.json()["images"]]
    originals = [np.pad(pixels(i), 2) for i in images]
    assert all(output.shape == (32, 32) for output in outputs)
    errors = np.array([[np.abs(o - x).mean() for x in originals] for o in outputs])
    assert np.all(errors.diagonal() < 20)  # close to its own input...
    assert np.all(errors.argmin(axis=1) == np.arange(len(images)))  # ...closer than to others


@pytest.mark.parametrize("name", SHIPPED)
def test_sample_is_deterministic_per_seed_and_differs_across_seeds(
    client: TestClient, name: str
) -> None:
    first = client.post(f"/v1/models/{name}/sample", json={"n": 4, "seed": 7})
    again = client.post(f"/v1/models/{name}/sample", json={"n": 4, "seed": 7})
    other = client.post(f"/v1/models/{name}/sample", json={"n": 4, "seed": 8})
    assert (first.status_code, again.status_code, other.status_code) == (200, 200, 200)
    assert first.content == again.content
    assert first.json()["images"] != other.json()["images"]
    assert first.json()["z"] != other.json()["z"]
    assert len(first.json()["images"]) == 4
    assert first.json()["seed"] == 7


def test_sample_says_where_the_codes_come_from(client: TestClient) -> None:
    vae = client.post(f"/v1/models/{VAE_2D}/sample", json={"n": 2, "seed": 0, "sampler": "prior"})
    ae = client.post(f"/v1/models/{AE_2D}/sample", json={"n": 2, "seed": 0, "sampler": "gaussian"})
    assert (vae.status_code, ae.status_code) == (200, 200)
    assert vae.json()["sampler"] == "prior" and "N(0, I)" in vae.json()["note"]
    assert ae.json()["sampler"] == "gaussian"
    assert "empirical" in ae.json()["note"] and "training codes" in ae.json()["note"]


def test_ae_samples_follow_the_stored_code_distribution(
    client: TestClient, model_dir: Path
) -> None:
    prior = read_manifest(model_dir / AE_2D).latent_prior
    body = {"n": 256, "seed": 1, "sampler": "gaussian"}
    response = client.post(f"/v1/models/{AE_2D}/sample", json=body)
    assert response.status_code == 200
    z = np.asarray(response.json()["z"])
    cholesky = np.asarray(prior.cholesky)
    spread = np.sqrt(np.diag(cholesky @ cholesky.T))
    assert np.all(np.abs(z.mean(axis=0) - np.asarray(prior.mean)) < 0.25 * spread)
    assert np.allclose(z.std(axis=0), spread, rtol=0.2)


def test_temperature_scales_the_vae_prior(client: TestClient) -> None:
    body = {"n": 64, "seed": 3, "temperature": 0.5, "sampler": "prior"}
    cold = client.post(f"/v1/models/{VAE_2D}/sample", json=body)
    warm = client.post(f"/v1/models/{VAE_2D}/sample", json=body | {"temperature": 1.0})
    assert (cold.status_code, warm.status_code) == (200, 200)
    np.testing.assert_allclose(np.asarray(cold.json()["z"]) * 2, warm.json()["z"], atol=1e-6)


def test_encode_sample_is_deterministic_and_follows_the_posterior(
    client: TestClient, trouser: bytes
) -> None:
    body = {"images": [b64(trouser)] * 200, "sample": True, "seed": 11}
    first = client.post(f"/v1/models/{VAE_2D}/encode", json=body)
    again = client.post(f"/v1/models/{VAE_2D}/encode", json=body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.content == again.content
    result = first.json()
    z, z_mean = np.asarray(result["z"]), np.asarray(result["z_mean"])
    std = np.exp(0.5 * np.asarray(result["z_log_var"]))
    standardised = (z - z_mean) / std
    assert abs(standardised.mean()) < 0.2 and 0.8 < standardised.std() < 1.2


def test_ae_encode_sample_is_the_code_itself(client: TestClient, trouser: bytes) -> None:
    body = {"images": [b64(trouser)], "sample": True, "seed": 1}
    response = client.post(f"/v1/models/{AE_2D}/encode", json=body)
    assert response.status_code == 200
    assert response.json()["z"] == response.json()["z_mean"]


@pytest.mark.parametrize("name", SHIPPED)
def test_edit_with_all_strengths_zero_equals_reconstruct(
    client: TestClient, fashion_pngs: dict[str, list[bytes]], name: str
) -> None:
    images = [b64(i) for i in fashion_pngs["Shirt"][:3]]
    zero = {"Trouser": 0.0, "Bag": 0.0, "Sneaker": 0.0}
    edited = client.post(f"/v1/models/{name}/edit", json={"images": images, "attributes": zero})
    reconstructed = client.post(f"/v1/models/{name}/reconstruct", json={"images": images})
    assert (edited.status_code, reconstructed.status_code) == (200, 200)
    assert edited.json()["images"] == reconstructed.json()["images"]
    assert edited.json()["z"] == reconstructed.json()["z_mean"]


def test_edit_adds_strength_times_the_attribute_vector(client: TestClient, trouser: bytes) -> None:
    vectors = client.get(f"/v1/models/{VAE_2D}/attributes").json()["attributes"]
    vector = {v["name"]: np.asarray(v["vector"]) for v in vectors}
    body = {"images": [b64(trouser)], "attributes": {"Trouser": -1.5, "Bag": 0.5}}
    edited = client.post(f"/v1/models/{VAE_2D}/edit", json=body)
    encoded = client.post(f"/v1/models/{VAE_2D}/encode", json={"images": [b64(trouser)]})
    assert (edited.status_code, encoded.status_code) == (200, 200)
    expected = np.asarray(encoded.json()["z_mean"]) - 1.5 * vector["Trouser"] + 0.5 * vector["Bag"]
    np.testing.assert_allclose(edited.json()["z"], expected, atol=1e-5)


def test_edit_on_z_shifts_the_given_codes(client: TestClient) -> None:
    vectors = client.get(f"/v1/models/{VAE_2D}/attributes").json()["attributes"]
    trouser = next(np.asarray(v["vector"]) for v in vectors if v["name"] == "Trouser")
    body = {"z": [[0.25, -0.5]], "attributes": {"Trouser": 2.0}}
    response = client.post(f"/v1/models/{VAE_2D}/edit", json=body)
    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["z"], [[0.25, -0.5] + 2.0 * trouser], atol=1e-6)


def test_edit_sweep_returns_one_output_per_strength(client: TestClient, boot: bytes) -> None:
    strengths = [-3, -1.5, 0, 1.5, 3]
    body = {"images": [b64(boot)], "sweep": {"attribute": "Trouser", "strengths": strengths}}
    sweep = client.post(f"/v1/models/{VAE_2D}/edit", json=body)
    strip = client.post(f"/v1/models/{VAE_2D}/edit", json=body | {"format": "strip"})
    assert (sweep.status_code, strip.status_code) == (200, 200)
    images = [pixels(i) for i in sweep.json()["images"]]
    assert len(images) == len(strengths)
    vectors = client.get(f"/v1/models/{VAE_2D}/attributes").json()["attributes"]
    trouser = next(np.asarray(v["vector"]) for v in vectors if v["name"] == "Trouser")
    z = np.asarray(sweep.json()["z"])
    expected = z[2] + np.asarray(strengths)[:, None] * trouser  # strength 0 is the code itself
    np.testing.assert_allclose(z, expected, atol=1e-5)
    assert strip.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(pixels(strip.content), np.concatenate(images, axis=1))


def test_interpolation_ends_equal_the_reconstructions(
    client: TestClient, trouser: bytes, boot: bytes
) -> None:
    ends = [b64(trouser), b64(boot)]
    reconstructed = client.post(f"/v1/models/{VAE_2D}/reconstruct", json={"images": ends})
    assert reconstructed.status_code == 200
    for method in ("linear", "slerp"):
        body = {"images": ends, "steps": 6, "method": method}
        response = client.post(f"/v1/models/{VAE_2D}/interpolate", json=body)
        assert response.status_code == 200
        frames, z = response.json()["images"], response.json()["z"]
        assert len(frames) == len(z) == 6
        np.testing.assert_allclose([z[0], z[-1]], reconstructed.json()["z_mean"], atol=1e-5)
        for frame, expected in zip(
            (frames[0], frames[-1]), reconstructed.json()["images"], strict=True
        ):
            assert np.abs(pixels(frame) - pixels(expected)).max() <= 1


def test_slerp_and_linear_differ_in_between(
    client: TestClient, trouser: bytes, boot: bytes
) -> None:
    ends = [b64(trouser), b64(boot)]
    paths = {
        method: client.post(
            f"/v1/models/{VAE_2D}/interpolate",
            json={"images": ends, "steps": 7, "method": method},
        )
        for method in ("linear", "slerp")
    }
    assert [r.status_code for r in paths.values()] == [200, 200]
    linear, slerp = (np.asarray(paths[m].json()["z"]) for m in ("linear", "slerp"))
    np.testing.assert_allclose(linear[[0, -1]], slerp[[0, -1]], atol=1e-5)
    gap = np.linalg.norm(linear[1:-1] - slerp[1:-1], axis=1)
    assert np.all(gap > 1e-2 * np.linalg.norm(linear[-1] - linear[0]))  # every inner frame
    assert paths["linear"].json()["images"][1:-1] != paths["slerp"].json()["images"][1:-1]


def test_interpolate_as_gif_and_strip(client: TestClient) -> None:
    body = {"z": [[-1.0, 0.0], [1.0, 0.5]], "steps": 5}
    gif = client.post(f"/v1/models/{VAE_2D}/interpolate", json=body | {"format": "gif"})
    strip = client.post(f"/v1/models/{VAE_2D}/interpolate", json=body | {"format": "strip"})
    frames = client.post(f"/v1/models/{VAE_2D}/interpolate", json=body)
    assert (gif.status_code, strip.status_code, frames.status_code) == (200, 200, 200)
    assert gif.headers["content-type"] == "image/gif"
    animation = Image.open(io.BytesIO(gif.content))
    assert getattr(animation, "n_frames", 1) == 5 and animation.size == (32, 32)
    assert strip.headers["content-type"] == "image/png"
    expected = np.concatenate([pixels(i) for i in frames.json()["images"]], axis=1)
    np.testing.assert_array_equal(pixels(strip.content), expected)


def test_decode_with_accept_png_returns_the_png_bytes(client: TestClient) -> None:
    body = {"z": [[0.5, -1.0]]}
    as_json = client.post(f"/v1/models/{VAE_2D}/decode", json=body)
    as_png = client.post(f"/v1/models/{VAE_2D}/decode", json=body, headers={"Accept": "image/png"})
    assert (as_json.status_code, as_png.status_code) == (200, 200)
    assert as_png.headers["content-type"] == "image/png"
    assert b64(as_png.content) == as_json.json()["images"][0]


def test_same_seed_gives_byte_identical_images_across_apps(model_dir: Path) -> None:
    bodies = []
    for threads in (1, 2):
        settings = Settings(model_dir=model_dir, intra_op_threads=threads)
        with TestClient(create_app(settings)) as fresh:
            response = fresh.post(f"/v1/models/{VAE_2D}/sample", json={"n": 3, "seed": 5})
            assert response.status_code == 200
            bodies.append(response.content)
    assert bodies[0] == bodies[1]


def test_multipart_uploads_equal_json(client: TestClient, trouser: bytes, boot: bytes) -> None:
    files = [("images", ("a.png", trouser, "image/png")), ("images", ("b.png", boot, "image/png"))]
    form = client.post(
        f"/v1/models/{VAE_2D}/encode", files=files, data={"sample": "true", "seed": "3"}
    )
    body = {"images": [b64(trouser), b64(boot)], "sample": True, "seed": 3}
    as_json = client.post(f"/v1/models/{VAE_2D}/encode", json=body)
    assert (form.status_code, as_json.status_code) == (200, 200)
    assert form.json() == as_json.json()


def test_multipart_edit_with_json_encoded_fields(client: TestClient, boot: bytes) -> None:
    sweep = {"attribute": "Trouser", "strengths": [-1, 1]}
    form = client.post(
        f"/v1/models/{VAE_2D}/edit",
        files=[("images", ("boot.png", boot, "image/png"))],
        data={"sweep": json.dumps(sweep), "attributes": json.dumps({"Bag": 0.5})},
    )
    body = {"images": [b64(boot)], "sweep": sweep, "attributes": {"Bag": 0.5}}
    as_json = client.post(f"/v1/models/{VAE_2D}/edit", json=body)
    assert (form.status_code, as_json.status_code) == (200, 200)
    assert form.json() == as_json.json()


def test_images_of_any_size_and_mode_are_accepted(client: TestClient, trouser: bytes) -> None:
    big_rgb = Image.open(io.BytesIO(trouser)).convert("RGB").resize((112, 112))
    buffer = io.BytesIO()
    big_rgb.save(buffer, format="JPEG", quality=95)
    response = client.post(
        f"/v1/models/{VAE_2D}/encode", json={"images": [b64(buffer.getvalue()), b64(trouser)]}
    )
    assert response.status_code == 200
    z_big, z_small = np.asarray(response.json()["z_mean"])
    assert np.linalg.norm(z_big - z_small) < 0.5  # the same trouser, seen the same way


def test_attributes_list_counts_and_vectors(client: TestClient) -> None:
    response = client.get(f"/v1/models/{VAE_2D}/attributes")
    assert response.status_code == 200
    attributes = {a["name"]: a for a in response.json()["attributes"]}
    assert len(attributes) == 10
    trouser = attributes["Trouser"]
    assert trouser["count_positive"] > 1000 and trouser["count_negative"] > 10000
    assert trouser["custom"] is False and len(trouser["vector"]) == 2
    assert trouser["norm"] == pytest.approx(np.linalg.norm(trouser["vector"]), rel=1e-5)
    one = client.get(f"/v1/models/{VAE_2D}/attributes/Trouser")
    assert one.status_code == 200
    assert one.json() == trouser
    with_slash = client.get(f"/v1/models/{VAE_2D}/attributes/T-shirt%2Ftop")
    assert with_slash.status_code == 200
    assert with_slash.json() == attributes["T-shirt/top"]


def test_health_is_open_and_alive(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_inference_runs_off_the_event_loop(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a sample is stuck inside the model, the loop still answers other requests."""
    started, release = threading.Event(), threading.Event()
    real_sample = LatentOperations.sample.__wrapped__  # type: ignore[attr-defined]

    @in_pool
    def stuck_sample(self: LatentOperations, *args: Any) -> Any:
        started.set()
        assert release.wait(timeout=30)
        return real_sample(self, *args)

    monkeypatch.setattr(LatentOperations, "sample", stuck_sample)
    settings = Settings(model_dir=model_dir, inference_concurrency=2)
    with TestClient(create_app(settings)) as fresh, ThreadPoolExecutor(1) as background:
        pending = background.submit(fresh.post, f"/v1/models/{VAE_2D}/sample", json={"n": 1})
        assert started.wait(timeout=30)
        assert fresh.get("/healthz").status_code == 200  # would hang if sampling held the loop
        assert fresh.post(f"/v1/models/{VAE_2D}/decode", json={"z": [[0, 0]]}).status_code == 200
        release.set()
        assert pending.result(timeout=30).status_code == 200
