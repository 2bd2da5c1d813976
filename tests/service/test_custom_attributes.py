"""Custom attribute vectors from example images: PUT, use in edit, list, restart, DELETE, errors."""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.schemas.fields import MIN_EXAMPLES
from service.vector_store import ORPHAN_AGE_S
from tests.service.helpers import assert_error, b64

pytestmark = pytest.mark.unit

MODEL = "fashion-vae-2d"
URL = f"/v1/models/{MODEL}/attributes"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(model_dir: Path, data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=model_dir, data_dir=data_dir))) as test_client:
        yield test_client


@pytest.fixture
def examples(fashion_pngs: dict[str, list[bytes]]) -> dict[str, list[str]]:
    """Bags against shoes."""
    shoes = fashion_pngs["Sneaker"][:3] + fashion_pngs["Sandal"][:2]
    return {
        "positive": [b64(i) for i in fashion_pngs["Bag"][:4]],
        "negative": [b64(i) for i in shoes],
    }


def test_put_computes_the_mean_difference_of_the_examples(
    client: TestClient, examples: dict[str, list[str]]
) -> None:
    response = client.put(f"{URL}/handbag", json=examples)
    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "handbag" and created["custom"] is True
    assert (created["count_positive"], created["count_negative"]) == (4, 5)
    z = {
        side: np.asarray(
            client.post(f"/v1/models/{MODEL}/encode", json={"images": images}).json()["z_mean"]
        )
        for side, images in examples.items()
    }
    expected = z["positive"].mean(axis=0) - z["negative"].mean(axis=0)
    np.testing.assert_allclose(created["vector"], expected, atol=1e-5)
    assert created["norm"] == pytest.approx(np.linalg.norm(expected), rel=1e-4)


def test_custom_vector_is_listed_marked_custom_and_works_in_edit(
    client: TestClient, examples: dict[str, list[str]], trouser: bytes
) -> None:
    vector = client.put(f"{URL}/handbag", json=examples).json()["vector"]
    listed = {a["name"]: a for a in client.get(URL).json()["attributes"]}
    assert listed["handbag"]["custom"] is True
    assert listed["Trouser"]["custom"] is False
    assert client.get(f"{URL}/handbag").json()["vector"] == vector
    assert "handbag" in client.get(f"/v1/models/{MODEL}").json()["attributes"]
    body = {"images": [b64(trouser)], "attributes": {"handbag": 2.0}}
    edited = client.post(f"/v1/models/{MODEL}/edit", json=body)
    encoded = client.post(f"/v1/models/{MODEL}/encode", json={"images": [b64(trouser)]})
    assert edited.status_code == 200
    expected = np.asarray(encoded.json()["z_mean"]) + 2.0 * np.asarray(vector)
    np.testing.assert_allclose(edited.json()["z"], expected, atol=1e-5)
    sweep = {"z": [[0.0, 0.0]], "sweep": {"attribute": "handbag", "strengths": [1.0]}}
    swept = client.post(f"/v1/models/{MODEL}/edit", json=sweep)
    assert swept.status_code == 200
    np.testing.assert_allclose(swept.json()["z"], [vector], atol=1e-6)


def test_custom_vector_survives_a_restart(
    client: TestClient, examples: dict[str, list[str]], model_dir: Path, data_dir: Path
) -> None:
    vector = client.put(f"{URL}/handbag", json=examples).json()["vector"]
    stored = data_dir / MODEL / "attributes" / "handbag.json"
    assert json.loads(stored.read_text())["vector"]["vector"] == vector
    with TestClient(create_app(Settings(model_dir=model_dir, data_dir=data_dir))) as restarted:
        response = restarted.get(f"{URL}/handbag")
        assert response.status_code == 200
        assert response.json()["vector"] == vector and response.json()["custom"] is True


def test_put_again_replaces_with_200(client: TestClient, examples: dict[str, list[str]]) -> None:
    assert client.put(f"{URL}/handbag", json=examples).status_code == 201
    swapped = {"positive": examples["negative"], "negative": examples["positive"]}
    again = client.put(f"{URL}/handbag", json=swapped)
    assert again.status_code == 200
    assert client.get(f"{URL}/handbag").json()["vector"] == again.json()["vector"]
    assert [a["name"] for a in client.get(URL).json()["attributes"]].count("handbag") == 1


def test_delete_removes_a_custom_vector(
    client: TestClient, examples: dict[str, list[str]], data_dir: Path
) -> None:
    client.put(f"{URL}/handbag", json=examples)
    response = client.delete(f"{URL}/handbag")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(client.get(f"{URL}/handbag"), 404, "attribute_not_found")
    assert_error(client.delete(f"{URL}/handbag"), 404, "attribute_not_found")
    assert "handbag" not in [a["name"] for a in client.get(URL).json()["attributes"]]
    assert not (data_dir / MODEL / "attributes" / "handbag.json").exists()


def test_built_in_vectors_are_read_only(client: TestClient, examples: dict[str, list[str]]) -> None:
    assert_error(client.put(f"{URL}/Trouser", json=examples), 409, "conflict")
    assert_error(client.delete(f"{URL}/Trouser"), 409, "conflict")
    assert client.get(f"{URL}/Trouser").json()["custom"] is False


def test_multipart_examples(client: TestClient, fashion_pngs: dict[str, list[bytes]]) -> None:
    files = [
        ("positive", (f"p{i}.png", image, "image/png"))
        for i, image in enumerate(fashion_pngs["Bag"][:3])
    ]
    files += [
        ("negative", (f"n{i}.png", image, "image/png"))
        for i, image in enumerate(fashion_pngs["Dress"][:3])
    ]
    response = client.put(f"{URL}/bag-not-dress", files=files)
    assert response.status_code == 201
    assert (response.json()["count_positive"], response.json()["count_negative"]) == (3, 3)


@pytest.mark.parametrize(
    "name",
    [
        ".hidden",
        "a" * 65,  # too long
        "Ｔrouser",  # fullwidth T: a look-alike of a built-in
        "café",
        "evil\u202egnp",  # right-to-left override
        "tab%09name",  # percent-encoded control characters
        "nul%00byte",
        "-starts-with-dash",
    ],
)
def test_invalid_names_are_422(
    client: TestClient, examples: dict[str, list[str]], name: str
) -> None:
    assert_error(client.put(f"{URL}/{name}", json=examples), 422, "invalid_input")
    assert_error(client.delete(f"{URL}/{name}"), 422, "invalid_input")


@pytest.mark.parametrize("path", ["../x", "..%2Fx", "%2E%2E%2Fx", "a/b", "..%2F..%2Fetc%2Fpasswd"])
def test_path_tricks_never_reach_the_disk(
    client: TestClient, examples: dict[str, list[str]], data_dir: Path, path: str
) -> None:
    response = client.put(f"{URL}/{path}", json=examples)
    assert response.status_code in (404, 405, 422), response.text
    assert response.json()["error"]["code"] in ("not_found", "method_not_allowed", "invalid_input")
    written = [p for p in data_dir.rglob("*") if p.is_file()] if data_dir.exists() else []
    assert written == []


def test_longest_valid_name_works(client: TestClient, examples: dict[str, list[str]]) -> None:
    name = "A" + "b" * 62 + "9"
    assert client.put(f"{URL}/{name}", json=examples).status_code == 201
    assert client.get(f"{URL}/{name}").status_code == 200


@pytest.mark.parametrize("side", ["positive", "negative"])
def test_each_side_needs_the_minimum_count(
    client: TestClient, examples: dict[str, list[str]], side: str
) -> None:
    assert MIN_EXAMPLES == 3
    short = examples | {side: examples[side][: MIN_EXAMPLES - 1]}
    error = assert_error(client.put(f"{URL}/handbag", json=short), 422, "invalid_input")
    assert side in error["message"]
    exact = examples | {side: examples[side][:MIN_EXAMPLES]}
    assert client.put(f"{URL}/handbag", json=exact).status_code == 201


def test_bad_example_image_stores_nothing(
    client: TestClient, examples: dict[str, list[str]], data_dir: Path
) -> None:
    bad = examples | {"negative": [*examples["negative"], b64(b"not an image")]}
    assert_error(client.put(f"{URL}/handbag", json=bad), 415, "unsupported_image")
    assert_error(client.get(f"{URL}/handbag"), 404, "attribute_not_found")


def test_unknown_model_is_404(client: TestClient, examples: dict[str, list[str]]) -> None:
    response = client.put("/v1/models/nope/attributes/handbag", json=examples)
    assert_error(response, 404, "model_not_found")


def test_without_a_data_dir_put_says_it_is_not_configured(
    model_dir: Path, examples: dict[str, list[str]]
) -> None:
    with TestClient(create_app(Settings(model_dir=model_dir))) as no_data:
        error = assert_error(no_data.put(f"{URL}/handbag", json=examples), 503, "not_configured")
        assert "VAE_SERVE_DATA_DIR" in error["message"]
        assert_error(no_data.delete(f"{URL}/handbag"), 503, "not_configured")
        assert no_data.get(URL).status_code == 200  # built-ins still listed


def test_vectors_of_another_encoder_are_ignored(
    client: TestClient, examples: dict[str, list[str]], data_dir: Path
) -> None:
    client.put(f"{URL}/handbag", json=examples)
    path = data_dir / MODEL / "attributes" / "handbag.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"encoder_sha256": "0" * 64}))
    assert "handbag" not in [a["name"] for a in client.get(URL).json()["attributes"]]
    assert_error(client.get(f"{URL}/handbag"), 404, "attribute_not_found")


def test_custom_vectors_are_per_model(client: TestClient, examples: dict[str, list[str]]) -> None:
    client.put(f"{URL}/handbag", json=examples)
    other = client.get("/v1/models/fashion-ae-2d/attributes/handbag")
    assert_error(other, 404, "attribute_not_found")


def test_concurrent_puts_leave_one_whole_vector(
    client: TestClient, fashion_pngs: dict[str, list[bytes]], data_dir: Path
) -> None:
    classes = ["Bag", "Coat", "Dress", "Shirt", "Sandal", "Pullover"]
    bodies = [
        {
            "positive": [b64(i) for i in fashion_pngs[name][:3]],
            "negative": [b64(i) for i in fashion_pngs["Trouser"][:3]],
        }
        for name in classes
    ]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda body: client.put(f"{URL}/racy", json=body), bodies))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 201} and 201 in codes  # racing creators may each see "new"
    vectors = [r.json()["vector"] for r in responses]
    assert client.get(f"{URL}/racy").json()["vector"] in vectors
    folder = data_dir / MODEL / "attributes"
    assert [p.name for p in folder.iterdir()] == ["racy.json"]  # no temporary file left


def test_stale_temporary_files_are_deleted_at_start_up_and_never_read(
    client: TestClient, examples: dict[str, list[str]], model_dir: Path, data_dir: Path
) -> None:
    """A writer killed before its rename leaves `.<name>.json.<id>.tmp`: never a vector, and
    deleted at a start-up once old enough to belong to no live writer."""
    vector = client.put(f"{URL}/handbag", json=examples).json()["vector"]
    folder = data_dir / MODEL / "attributes"
    whole = (folder / "handbag.json").read_bytes()
    stale = folder / f".handbag.json.{'a' * 32}.tmp"
    stale.write_bytes(whole[: len(whole) // 2])  # torn mid-write
    long_ago = time.time() - 2 * ORPHAN_AGE_S
    os.utime(stale, (long_ago, long_ago))
    fresh = folder / f".other.json.{'b' * 32}.tmp"
    fresh.write_bytes(whole)  # complete, but not renamed yet: a live writer's, maybe
    with TestClient(create_app(Settings(model_dir=model_dir, data_dir=data_dir))) as restarted:
        assert not stale.exists()
        assert fresh.exists()
        listed = restarted.get(URL).json()["attributes"]
        assert [a["name"] for a in listed if a["custom"]] == ["handbag"]
        assert_error(restarted.get(f"{URL}/other"), 404, "attribute_not_found")
        assert restarted.get(f"{URL}/handbag").json()["vector"] == vector


def test_a_failed_write_keeps_the_old_vector_and_leaves_no_temporary_file(
    client: TestClient,
    examples: dict[str, list[str]],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vector = client.put(f"{URL}/handbag", json=examples).json()["vector"]

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("vae_core.files.os.fsync", disk_full)
    swapped = {"positive": examples["negative"], "negative": examples["positive"]}
    error = assert_error(client.put(f"{URL}/handbag", json=swapped), 503, "not_configured")
    assert os.strerror(errno.ENOSPC) in error["message"]
    monkeypatch.undo()
    assert client.get(f"{URL}/handbag").json()["vector"] == vector
    assert [p.name for p in (data_dir / MODEL / "attributes").iterdir()] == ["handbag.json"]
