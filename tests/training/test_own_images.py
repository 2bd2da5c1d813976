"""From a folder of images to a served model: each layout, written from Fashion-MNIST, is trained
by one command (`python -m training train --dataset folder`), which exports its bundle; the real
service then serves every bundle, and images are encoded, edited by the folder's class or
attribute vectors, and sampled over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from liveserver.server import Server
from tests.service.helpers import png
from tests.training.datasets.folders import (
    ATTRIBUTES,
    write_class_folders,
    write_metadata_folder,
    write_split_folders,
    write_unlabeled,
)
from training.cli import main
from training.datasets.splits import DatasetSplits, LabeledImages

pytestmark = pytest.mark.e2e

COUNT = 300  # 240 to train: more than one batch of 64

LAYOUTS: dict[str, tuple[Callable[[Path, LabeledImages, LabeledImages], object], list[str]]] = {
    # name: (how its folder is written, extra flags); metadata-csv is a flat folder
    "classes": (lambda root, train, _: write_class_folders(root, train, COUNT), ["--epochs", "2"]),
    "metadata-csv": (
        lambda root, train, _: write_metadata_folder(root, train, COUNT, folder=""),
        ["--fit", "pad"],
    ),
    "metadata-jsonl": (
        lambda root, train, _: write_metadata_folder(root, train, COUNT, "jsonl"),
        ["--model", "ae"],
    ),
    "splits": (write_split_folders, []),
    "unlabeled": (lambda root, train, _: write_unlabeled(root, train, COUNT), []),
}
TINY_FLAGS = ["--image-size", "32", "--widths", "4,8", "--latent-dim", "3", "--batch-size", "64"]


@pytest.fixture(scope="module")
def models(fashion: DatasetSplits, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every layout trained and exported by one command each, into one models folder."""
    work = tmp_path_factory.mktemp("own-images")
    for name, (write, flags) in LAYOUTS.items():
        write(work / "folders" / name, fashion.train, fashion.test)
        argv = ["train", "--name", name, "--dataset", "folder"]
        argv += ["--data-dir", str(work / "folders" / name), *TINY_FLAGS, "--epochs", "1", *flags]
        argv += ["--nll-samples", "2", "--models-dir", str(work / "models")]
        assert main([*argv, "--runs-dir", str(work / "runs")]) == 0, name
    return work / "models"


@pytest.fixture(scope="module")
def client(models: Path) -> Iterator[httpx.Client]:
    with Server(models, env={}, log=models.parent / "server.log") as server:
        yield httpx.Client(base_url=server.url, timeout=30)


def an_image(models: Path, name: str) -> bytes:
    folder = models.parent / "folders" / name
    return next(
        path for path in sorted(folder.rglob("*")) if path.suffix in (".jpg", ".png")
    ).read_bytes()


def test_every_layout_is_served_with_its_labels_as_attribute_vectors(client: httpx.Client) -> None:
    reply = client.get("/v1/models")

    assert reply.status_code == 200
    served = {model["name"]: model for model in reply.json()["models"]}
    assert set(served) == set(LAYOUTS) and all(model["available"] for model in served.values())
    assert served["metadata-csv"]["attributes"] == list(ATTRIBUTES)
    assert served["metadata-jsonl"]["attributes"] == list(ATTRIBUTES)
    assert {"Trouser", "Bag", "T-shirt-top"} <= set(served["classes"]["attributes"])
    assert {"Trouser", "Bag", "T-shirt-top"} <= set(served["splits"]["attributes"])
    assert served["unlabeled"]["attributes"] == []
    assert served["classes"]["image"] == {"channels": 3, "height": 32, "width": 32}
    assert served["metadata-csv"]["image"]["channels"] == 1  # grayscale PNGs


@pytest.mark.parametrize(
    ("name", "attribute"),
    [
        ("classes", "Trouser"),
        ("splits", "Bag"),
        ("metadata-csv", "Footwear"),
        ("metadata-jsonl", "Top"),
    ],
)
def test_an_upload_is_encoded_and_edited_by_a_vector_of_its_folder(
    client: httpx.Client, models: Path, name: str, attribute: str
) -> None:
    image = {"images": ("image", an_image(models, name))}
    encoded = client.post(f"/v1/models/{name}/encode", files=image)
    vector = client.get(f"/v1/models/{name}/attributes/{attribute}")
    edited = client.post(
        f"/v1/models/{name}/edit", files=image, data={"attributes": f'{{"{attribute}": 2}}'}
    )

    assert (encoded.status_code, vector.status_code, edited.status_code) == (200, 200, 200)
    z_mean = np.array(encoded.json()["z_mean"][0])
    expected = z_mean + 2 * np.array(vector.json()["vector"])
    np.testing.assert_allclose(edited.json()["z"][0], expected, rtol=1e-4, atol=1e-4)
    assert vector.json()["count_positive"] > 0 and vector.json()["count_negative"] > 0


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_model_is_calibrated_and_scores_an_upload(
    client: httpx.Client, models: Path, name: str
) -> None:
    """Export calibrated each folder's model on its validation split, so an upload gets a score,
    a p-value and a verdict at the calibrated threshold. (These one-epoch models are too crude to
    tell garments from anything: the one-class benchmark measures folder models that are not.)"""
    detail = client.get(f"/v1/models/{name}").json()
    assert detail["anomaly"]["validation_images"] >= 20
    white = np.full((32, 32), 255, dtype=np.uint8)
    files = [
        ("images", ("own.png", an_image(models, name))),
        ("images", ("white.png", png(white))),
    ]
    reply = client.post(f"/v1/models/{name}/score", files=files, data={"map": "true"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    calibration = client.get(f"/v1/models/{name}/calibration").json()
    default = next(s for s in calibration["scores"] if s["name"] == body["score"])
    assert body["fpr"] == 0.05 and body["threshold"] == default["thresholds"]["0.05"]
    for result in body["results"]:
        assert result["anomalous"] == (result["score"] > body["threshold"])
        assert result["map"] and result["input"]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_model_samples(client: httpx.Client, name: str) -> None:
    reply = client.post(f"/v1/models/{name}/sample", json={"n": 3, "seed": 0})

    assert reply.status_code == 200
    assert len(reply.json()["images"]) == len(reply.json()["z"]) == 3


def test_an_unlabeled_model_encodes_decodes_and_has_no_vectors(
    client: httpx.Client, models: Path
) -> None:
    image = {"images": ("image", an_image(models, "unlabeled"))}
    encoded = client.post("/v1/models/unlabeled/encode", files=image)
    decoded = client.post("/v1/models/unlabeled/decode", json={"z": encoded.json()["z_mean"]})
    listed = client.get("/v1/models/unlabeled/attributes")
    edited = client.post(
        "/v1/models/unlabeled/edit", files=image, data={"attributes": '{"Bag": 1}'}
    )

    assert (encoded.status_code, decoded.status_code, listed.status_code) == (200, 200, 200)
    assert listed.json() == {"attributes": []}
    assert edited.status_code == 404 and edited.json()["error"]["code"] == "attribute_not_found"


@pytest.mark.parametrize(("name", "kind"), [("classes", "class"), ("unlabeled", "none")])
def test_export_draws_the_latent_map_of_the_folders_test_images(
    client: httpx.Client, name: str, kind: str
) -> None:
    """What the Studio shows: the test split's points, with the folder's labels or none."""
    latent_map = client.get(f"/v1/models/{name}/map")
    sprite = client.get(f"/v1/models/{name}/map/sprite")

    assert (latent_map.status_code, sprite.status_code) == (200, 200)
    body = latent_map.json()
    assert body["split"] == "test" and body["count"] == len(body["points"]) > 0
    assert body["labels"]["kind"] == kind
    assert (body["labels"]["names"] == []) == (kind == "none")
    assert sprite.content[8:12] == b"WEBP"


def test_the_studio_draws_an_unlabeled_map_in_one_colour(client: httpx.Client) -> None:
    from playwright.sync_api import expect

    from tests.service.chromium import chromium, offline_page

    count = client.get("/v1/models/unlabeled/map").json()["count"]
    blocked: list[str] = []
    with chromium() as browser:
        page = offline_page(browser, blocked)
        page.goto(f"{client.base_url}/?model=unlabeled")
        expect(page.get_by_test_id("map")).to_have_attribute("data-points", str(count))
        legend = page.get_by_test_id("map-legend").locator("li")
        expect(legend).to_have_count(1)
        expect(legend.first).to_have_text(f"unlabeled ({count})")
    assert blocked == []


def test_the_manifest_carries_the_dataset_card_and_the_exported_epoch(
    client: httpx.Client,
) -> None:
    details = {name: client.get(f"/v1/models/{name}").json() for name in LAYOUTS}

    splits = details["splits"]["dataset"]["card"]["splits"]
    assert {name: split["images"] for name, split in splits.items()} == {
        "train": 200,
        "val": 40,
        "test": 40,
    }
    assert {split["source"] for split in splits.values()} == {"folder"}
    classes = details["classes"]
    assert classes["dataset"]["card"]["layout"] == "class_folders"
    assert sum(classes["dataset"]["card"]["splits"]["train"]["label_counts"].values()) == 240
    assert classes["training"]["exported_epoch"] in (1, 2)
    assert classes["training"]["epochs_completed"] == 2
    assert details["metadata-csv"]["preprocessing"]["crop"] == "pad_square"
    assert details["unlabeled"]["dataset"]["label_kind"] == "none"


@pytest.mark.parametrize(("name", "sweeps"), [("metadata-csv", True), ("unlabeled", False)])
def test_report_draws_a_folder_bundle_from_the_folder_it_was_trained_on(
    models: Path, tmp_path: Path, name: str, sweeps: bool
) -> None:
    from training.report import write_report

    paths = write_report(models / name, tmp_path)

    names = {path.name for path in paths}
    assert {"latent_scatter.png", "reconstructions.png", "samples.png"} <= names
    assert ("attribute_sweeps.png" in names) == sweeps  # an unlabeled model has no vectors
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in paths)
