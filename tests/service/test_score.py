"""POST /v1/models/{model}/score and GET .../calibration on the shipped bundles: verdicts that
agree with the bundle's calibration file, maps that find a defect, both body encodings, and every
bad input a clear 4xx."""

from __future__ import annotations

import base64
import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.service.helpers import assert_error, b64, png
from training.anomaly import remove_calibration
from training.datasets.fashion_mnist import load_fashion_mnist
from vae_core import bundle
from vae_core.calibration import ANOMALY, npz_key

pytestmark = pytest.mark.unit

VAE, AE = "fashion-vae-32d", "fashion-ae-2d"


@pytest.fixture(scope="module")
def test_pixels(fashion_dir: Path) -> np.ndarray:
    return load_fashion_mnist(fashion_dir).test.pixels[:16]


@pytest.fixture(scope="module")
def validation_pngs(fashion_dir: Path) -> list[bytes]:
    return [png(p) for p in load_fashion_mnist(fashion_dir).val.pixels[:4]]


def served_scores(client: TestClient, model_dir: Path, model: str = VAE) -> dict[str, np.ndarray]:
    """The bundle's stored validation scores at the precision the service serves it at: the
    calibration its p-values and thresholds come from."""
    precision = client.get(f"/v1/models/{model}").json()["precision"]
    stored = np.load(model_dir / model / ANOMALY)
    info = bundle.read_manifest(model_dir / model).anomaly
    assert info is not None and precision in info.precisions
    return {name: stored[npz_key(precision, name)] for name in info.names()}


def score(client: TestClient, model: str = VAE, **body: object) -> dict:
    response = client.post(f"/v1/models/{model}/score", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_each_image_gets_a_score_a_p_value_and_a_verdict_in_order(
    client: TestClient, test_pixels: np.ndarray, model_dir: Path
) -> None:
    images = [png(test_pixels[0]), png(255 - test_pixels[1]), png(test_pixels[2])]
    body = score(client, images=[b64(i) for i in images])
    info = bundle.read_manifest(model_dir / VAE).anomaly
    assert info is not None
    assert body["model"] == VAE
    assert body["score"] == info.default_score and body["fpr"] == info.default_fpr
    results = body["results"]
    assert [r["anomalous"] for r in results] == [False, True, False]
    for result in results:
        assert result["anomalous"] == (result["score"] > body["threshold"])
        assert result["anomalous"] == (result["p_value"] <= body["fpr"])
        assert result["scores"] is None and result["map"] is None
    assert results[1]["p_value"] < 0.001  # an inverted garment: beyond every validation image


def test_p_values_and_thresholds_come_from_the_bundles_validation_scores(
    client: TestClient, validation_pngs: list[bytes], model_dir: Path
) -> None:
    """A validation image scores what the calibration file holds for it; its p-value counts the
    stored scores at least as high, plus itself."""
    stored = served_scores(client, model_dir)
    body = score(client, images=[b64(i) for i in validation_pngs], score="latent", fpr=0.01)
    latent = stored["latent"]
    for i, result in enumerate(body["results"]):
        assert result["score"] == pytest.approx(latent[i], rel=1e-5)
        expected = (1 + np.sum(latent >= latent[i])) / (len(latent) + 1)
        assert result["p_value"] == pytest.approx(expected, abs=2 / len(latent))
    ordered = np.sort(latent)
    assert np.sum(ordered > body["threshold"]) <= 0.01 * (len(latent) + 1) - 1


def test_every_score_on_request_and_an_explicit_threshold(
    client: TestClient, test_pixels: np.ndarray, model_dir: Path
) -> None:
    info = bundle.read_manifest(model_dir / VAE).anomaly
    assert info is not None
    body = score(client, images=[b64(png(test_pixels[3]))], all_scores=True)
    scores = body["results"][0]["scores"]
    assert list(scores) == info.names()
    assert body["results"][0]["score"] == scores[info.default_score]

    elbo = scores["elbo"]
    for threshold, flagged in ((elbo - 1, True), (elbo + 1, False)):
        body = score(client, images=[b64(png(test_pixels[3]))], score="elbo", threshold=threshold)
        assert body["threshold"] == threshold and body["results"][0]["anomalous"] is flagged
        stored = served_scores(client, model_dir)["elbo"]
        assert body["fpr"] == pytest.approx(np.mean(stored > threshold))


def test_the_map_is_brightest_where_a_defect_was_pasted(
    client: TestClient, test_pixels: np.ndarray
) -> None:
    damaged = test_pixels[4].copy()
    damaged[2:9, 2:9] = 255  # a bright square where the garment has none
    body = score(client, images=[b64(png(damaged))], map=True, map_values=True)
    result = body["results"][0]
    heatmap = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["map"]))))
    assert heatmap.shape == (32, 32) and heatmap.dtype == np.uint8  # the model's 32x32, gray
    values = np.asarray(result["map_values"])
    assert values.shape == (32, 32) and values.min() >= 0 and values.max() <= 1
    assert np.allclose(heatmap, np.round(values * 255), atol=1)
    inside = values[4:11, 4:11].mean()  # the square, 2 pixels in: the model's padding
    assert inside > 3 * values.mean()
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["input"]))))
    assert seen.shape == (32, 32) and np.array_equal(seen[2:30, 2:30], damaged)


def test_multipart_takes_the_same_fields(client: TestClient, test_pixels: np.ndarray) -> None:
    files = [("images", (f"{i}.png", png(test_pixels[i]), "image/png")) for i in range(2)]
    form = {"score": "elbo", "fpr": "0.01", "all_scores": "true"}
    response = client.post(f"/v1/models/{VAE}/score", files=files, data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["score"] == "elbo" and body["fpr"] == 0.01 and len(body["results"]) == 2
    assert body["results"][0]["scores"]["elbo"] == body["results"][0]["score"]


def test_an_autoencoder_offers_what_applies_to_it(
    client: TestClient, test_pixels: np.ndarray
) -> None:
    body = score(client, AE, images=[b64(png(test_pixels[0]))], all_scores=True)
    assert set(body["results"][0]["scores"]) == {"combined", "latent", "reconstruction", "l1"}
    body = {"images": [b64(png(test_pixels[0]))], "score": "elbo"}
    error = assert_error(client.post(f"/v1/models/{AE}/score", json=body), 422, "invalid_input")
    assert "offers no score 'elbo'" in error["message"]
    assert error["detail"]["scores"] == ["combined", "latent", "reconstruction", "l1"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"score": "likelihood"}, "'combined', 'latent'"),
        ({"fpr": 0.0}, "greater than 0"),
        ({"fpr": 0.6}, "less than or equal to 0.5"),
        ({"fpr": "NaN"}, "fpr"),
        ({"fpr": 0.05, "threshold": 1.0}, "fpr or threshold, not both"),
        ({"threshold": "Infinity"}, "threshold"),
        ({"map": "yes"}, "map"),
        ({"images": []}, "images"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_options_are_a_422_that_says_what_is_allowed(
    client: TestClient, test_pixels: np.ndarray, change: dict, where: str
) -> None:
    body = {"images": [b64(png(test_pixels[0]))], **change}
    error = assert_error(client.post(f"/v1/models/{VAE}/score", json=body), 422, "invalid_input")
    assert where in error["message"]


def test_a_rate_below_what_the_validation_set_can_calibrate_names_the_smallest(
    client: TestClient, test_pixels: np.ndarray
) -> None:
    body = {"images": [b64(png(test_pixels[0]))], "fpr": 1e-6}
    error = assert_error(client.post(f"/v1/models/{VAE}/score", json=body), 422, "invalid_input")
    assert error["detail"]["min_fpr"] == pytest.approx(1 / 5001)


def test_bad_images_get_what_encode_gives(client: TestClient) -> None:
    assert_error(
        client.post(f"/v1/models/{VAE}/score", json={"images": [b64(b"not an image")]}),
        415,
        "unsupported_image",
    )
    assert_error(
        client.post(f"/v1/models/{VAE}/score", json={"images": ["@@@"]}), 422, "invalid_input"
    )
    assert_error(client.post("/v1/models/nope/score", json={"images": []}), 404, "model_not_found")


@pytest.fixture
def uncalibrated(models_copy: Path) -> Path:
    """fashion-vae-2d as a bundle exported before calibrations: no anomaly.npz, no record."""
    remove_calibration(models_copy / "fashion-vae-2d")
    return models_copy


def test_a_bundle_without_a_calibration_answers_with_the_command_that_adds_it(
    uncalibrated: Path, test_pixels: np.ndarray
) -> None:
    with TestClient(create_app(Settings(model_dir=uncalibrated))) as client:
        body = {"images": [b64(png(test_pixels[0]))]}
        error = assert_error(
            client.post("/v1/models/fashion-vae-2d/score", json=body), 404, "calibration_not_found"
        )
        assert "vae-serve calibrate" in error["message"]
        assert error["detail"]["command"] == "vae-serve calibrate models/fashion-vae-2d"
        assert_error(
            client.get("/v1/models/fashion-vae-2d/calibration"), 404, "calibration_not_found"
        )
        detail = client.get("/v1/models/fashion-vae-2d").json()
        assert detail["anomaly"] is None
        # Everything else still works.
        assert client.post("/v1/models/fashion-vae-2d/encode", json=body).status_code == 200


def test_a_damaged_calibration_makes_its_model_unavailable_not_wrong(models_copy: Path) -> None:
    shutil.copy(
        models_copy / "fashion-vae-2d" / "samplers.npz", models_copy / "fashion-vae-2d" / ANOMALY
    )
    with TestClient(create_app(Settings(model_dir=models_copy))) as client:
        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert models["fashion-vae-2d"]["available"] is False
        assert "anomaly.npz" in models["fashion-vae-2d"]["reason"]
        assert models[VAE]["available"] is True


def test_the_model_detail_lists_the_scores_with_their_recorded_figures(
    client: TestClient, model_dir: Path
) -> None:
    detail = client.get(f"/v1/models/{VAE}").json()["anomaly"]
    recorded = bundle.read_manifest(model_dir / VAE).anomaly
    assert recorded is not None
    assert detail == recorded.model_dump(mode="json")
    mnist = {s["name"]: s["ood"]["mnist"]["auroc"] for s in detail["scores"]}
    assert set(mnist) == set(recorded.names())


def test_the_calibration_endpoint_draws_the_validation_distribution(
    client: TestClient, model_dir: Path
) -> None:
    response = client.get(f"/v1/models/{VAE}/calibration")
    assert response.status_code == 200, response.text
    body = response.json()
    stored = served_scores(client, model_dir)
    assert body["validation_images"] == len(stored["latent"]) == 5000
    for entry in body["scores"]:
        histogram = entry["histogram"]
        assert sum(histogram["counts"]) == 5000
        assert len(histogram["edges"]) == len(histogram["counts"]) + 1
        flagged = np.mean(stored[entry["name"]] > entry["thresholds"]["0.01"])
        assert flagged <= 0.01
