"""The latent map endpoints' numbers: GET .../map gives the bundle's stored positions, which are its
stored codes projected; POST .../project puts a held-out image on its own point, and lists the true
nearest points in code space; a bundle without a map answers 404 map_not_found."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.app import create_app
from service.config import Settings
from tests.service.helpers import assert_error, b64, png
from training.datasets.fashion_mnist import load_fashion_mnist
from training.datasets.splits import DatasetSplits
from training.map_export import remove_latent_map
from vae_core.bundle import read_bundle
from vae_core.latent_map import LatentMap

pytestmark = pytest.mark.unit

FASHION = ("fashion-vae-2d", "fashion-vae-32d", "fashion-ae-2d")
ALL = (*FASHION, "faces-vae-200d")
HELD_OUT = (0, 1, 123, 2500, 4999)  # test-set indices, each a point of the fashion maps


@pytest.fixture(scope="module")
def fashion(fashion_dir: Path) -> DatasetSplits:
    return load_fashion_mnist(fashion_dir)


@pytest.fixture(scope="module")
def stored(model_dir: Path) -> dict[str, LatentMap]:
    """Each bundle's map as the bundle stores it, read by the core."""
    maps = {name: read_bundle(model_dir / name).latent_map for name in ALL}
    assert all(latent_map is not None for latent_map in maps.values())
    return maps  # type: ignore[return-value]


def get_map(client: TestClient, model: str) -> dict[str, Any]:
    response = client.get(f"/v1/models/{model}/map")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("model", ALL)
def test_the_map_holds_every_stored_point_with_its_labels(
    client: TestClient, model: str, stored: dict[str, LatentMap]
) -> None:
    body = get_map(client, model)
    latent_map = stored[model]
    assert body["model"] == model and body["split"] == "test"
    assert body["count"] == len(body["points"]) == len(body["labels"]["values"]) == latent_map.count
    assert body["count"] == (2500 if model.startswith("faces") else 5000)
    np.testing.assert_array_equal(np.asarray(body["points"], np.float32), latent_map.positions)
    assert body["labels"]["values"] == latent_map.labels.values
    assert body["projection"]["kind"] == ("identity" if model.endswith("-2d") else "pca")
    detail = client.get(f"/v1/models/{model}").json()
    kind = body["projection"]["kind"]
    assert detail["latent_map"] == {"points": body["count"], "projection": kind, "split": "test"}


@pytest.mark.parametrize("model", ALL)
def test_the_stored_positions_are_the_stored_codes_projected(
    client: TestClient, model: str, stored: dict[str, LatentMap]
) -> None:
    body = get_map(client, model)
    projection = body["projection"]
    mean = np.asarray(projection["mean"])
    components = np.asarray(projection["components"])
    assert components.shape[1] == len(mean) == body["latent_dim"]
    np.testing.assert_allclose(components @ components.T, np.eye(len(components)), atol=1e-6)
    expected = (stored[model].codes - mean) @ components[:2].T
    np.testing.assert_allclose(np.asarray(body["points"]), expected, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def fp32_client(model_dir: Path) -> Iterator[TestClient]:
    """The map's points are the fp32 encoder's codes: an image lands on its own at fp32 (at int8,
    within the quantize gate's difference of it)."""
    with TestClient(create_app(Settings(model_dir=model_dir, precision="fp32"))) as client:
        yield client


@pytest.mark.parametrize("model", FASHION)
def test_a_held_out_image_lands_on_its_stored_point(
    fp32_client: TestClient, fashion: DatasetSplits, model: str
) -> None:
    client = fp32_client
    points = np.asarray(get_map(client, model)["points"])
    images = [b64(png(fashion.test.pixels[i])) for i in HELD_OUT]
    response = client.post(f"/v1/models/{model}/project", json={"images": images, "neighbours": 1})
    assert response.status_code == 200, response.text
    projected = response.json()["points"]
    extent = np.ptp(points, axis=0).max()
    for index, point in zip(HELD_OUT, projected, strict=True):
        # float16 codes: the stored point is within their rounding of the image's code.
        np.testing.assert_allclose(point["position"], points[index], atol=2e-3 * extent)
        (nearest,) = point["neighbours"]
        assert nearest["index"] == index
        assert nearest["labels"] == [int(fashion.test.labels[index])]


@pytest.mark.parametrize("model", ALL)
def test_the_neighbours_are_the_true_nearest_in_code_space(
    client: TestClient, model: str, stored: dict[str, LatentMap]
) -> None:
    latent_map = stored[model]
    rng = np.random.default_rng(7)
    picks = latent_map.codes[rng.choice(latent_map.count, 4, replace=False)]
    queries = picks + rng.normal(0, 0.3, picks.shape).astype(np.float32)
    body = {"z": queries.tolist(), "neighbours": 20}
    response = client.post(f"/v1/models/{model}/project", json=body)
    assert response.status_code == 200, response.text
    for query, point in zip(queries, response.json()["points"], strict=True):
        distances = np.linalg.norm(latent_map.codes - query, axis=1)
        expected = np.sort(distances)[:20]
        got = point["neighbours"]
        np.testing.assert_allclose([n["distance"] for n in got], expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(
            distances[[n["index"] for n in got]], expected, rtol=1e-4, atol=1e-4
        )
        assert all(n["position"] == latent_map.positions[n["index"]].tolist() for n in got)
        assert point["position"] == pytest.approx(
            latent_map.place(query[None])[0].tolist(), abs=1e-4
        )


def test_project_takes_multipart_images(client: TestClient, trouser: bytes, boot: bytes) -> None:
    files = [("images", ("a.png", trouser, "image/png")), ("images", ("b.png", boot, "image/png"))]
    response = client.post(
        "/v1/models/fashion-vae-2d/project", files=files, data={"neighbours": "3"}
    )
    assert response.status_code == 200, response.text
    points = response.json()["points"]
    assert [len(p["neighbours"]) for p in points] == [3, 3]
    assert points[0]["neighbours"][0]["labels"] == [1]  # a trouser's nearest is a trouser


@pytest.mark.parametrize("model", ALL)
def test_the_sprite_is_a_webp_with_a_cell_per_point(
    client: TestClient, model: str, stored: dict[str, LatentMap]
) -> None:
    layout = get_map(client, model)["sprite"]
    response = client.get(f"/v1/models/{model}/map/sprite")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    sprite = Image.open(io.BytesIO(response.content))
    count = stored[model].count
    rows = -(-count // layout["columns"])
    assert sprite.size == (layout["columns"] * layout["thumb_width"], rows * layout["thumb_height"])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"z": [[0.0, 0.0]], "neighbours": 65}, "less than or equal to 64"),
        ({"z": [[0.0, 0.0]], "neighbours": -1}, "greater than or equal to 0"),
        ({"z": [[0.0, 0.0, 0.0]]}, "takes 2-d codes"),
        ({"z": [[0.0, 0.0]], "images": ["iVBORw0KGgo="]}, "either images or z"),
        ({"neighbours": 3}, "either images or z"),
        ({"z": [[0.0, 0.0]] * 257}, "at most 256"),
    ],
)
def test_project_refuses_bad_bodies(client: TestClient, body: dict[str, Any], says: str) -> None:
    error = assert_error(
        client.post("/v1/models/fashion-vae-2d/project", json=body), 422, "invalid_input"
    )
    assert says in error["message"], error["message"]


def test_a_bundle_without_a_map_serves_all_else_and_says_the_map_is_missing(
    models_copy: Path, trouser: bytes
) -> None:
    remove_latent_map(models_copy / "fashion-vae-2d")
    with TestClient(create_app(Settings(model_dir=models_copy))) as client:
        assert client.get("/v1/models/fashion-vae-2d").json()["latent_map"] is None
        for method, path, body in (
            ("GET", "map", None),
            ("GET", "map/sprite", None),
            ("POST", "project", {"z": [[0.0, 0.0]]}),
        ):
            response = client.request(method, f"/v1/models/fashion-vae-2d/{path}", json=body)
            error = assert_error(response, 404, "map_not_found")
            assert "python -m training map models/fashion-vae-2d" in error["message"]
        encoded = client.post("/v1/models/fashion-vae-2d/encode", json={"images": [b64(trouser)]})
        assert encoded.status_code == 200
        assert client.get("/v1/models/fashion-vae-32d/map").status_code == 200
