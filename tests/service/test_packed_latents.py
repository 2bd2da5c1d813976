"""The compact latent encoding: raw little-endian float32 in base64, opt-in per request. It must
carry exactly the same codes as JSON lists, in both directions, and refuse anything malformed."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.service.helpers import assert_error, b64

pytestmark = pytest.mark.unit

VAE = "fashion-vae-32d"
DIM = 32


def packed(z: np.ndarray) -> dict[str, object]:
    data = base64.b64encode(z.astype("<f4").tobytes()).decode()
    return {"dtype": "float32", "shape": list(z.shape), "data": data}


def unpacked(value: dict[str, object]) -> np.ndarray:
    assert value["dtype"] == "float32"
    shape = value["shape"]
    assert isinstance(shape, list) and isinstance(value["data"], str)
    return np.frombuffer(base64.b64decode(value["data"]), "<f4").reshape(shape)


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((3, DIM)).astype(np.float32)


def test_encode_returns_the_same_codes_packed(client: TestClient, trouser: bytes) -> None:
    body = {"images": [b64(trouser)] * 2, "sample": True, "seed": 1}
    as_json = client.post(f"/v1/models/{VAE}/encode", json=body).json()
    as_b64 = client.post(f"/v1/models/{VAE}/encode", json=body | {"code_format": "base64"}).json()
    for key in ("z_mean", "z_log_var", "z"):
        np.testing.assert_array_equal(unpacked(as_b64[key]), np.float32(as_json[key]))
        assert as_b64[key]["shape"] == [2, DIM]


def test_packed_codes_decode_to_the_same_images(client: TestClient, codes: np.ndarray) -> None:
    as_lists = client.post(f"/v1/models/{VAE}/decode", json={"z": codes.tolist()})
    as_packed = client.post(f"/v1/models/{VAE}/decode", json={"z": packed(codes)})
    assert as_packed.status_code == 200, as_packed.text
    assert as_packed.json() == as_lists.json()


@pytest.mark.parametrize("path", ["sample", "edit", "interpolate", "reconstruct"])
def test_every_endpoint_with_codes_in_its_reply_can_pack_them(
    client: TestClient, trouser: bytes, codes: np.ndarray, path: str
) -> None:
    bodies = {
        "sample": {"n": 3, "seed": 0},
        "edit": {"z": packed(codes), "attributes": {"Trouser": 1.0}},
        "interpolate": {"z": packed(codes[:2]), "steps": 5},
        "reconstruct": {"images": [b64(trouser)]},
    }
    body = bodies[path]
    plain = client.post(f"/v1/models/{VAE}/{path}", json=body).json()
    compact = client.post(f"/v1/models/{VAE}/{path}", json=body | {"code_format": "base64"}).json()
    key = "z_mean" if path == "reconstruct" else "z"
    np.testing.assert_array_equal(unpacked(compact[key]), np.float32(plain[key]))
    assert compact["images"] == plain["images"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": "not base64!"}, "not valid base64"),
        ({"shape": [3, DIM + 1]}, "bytes"),
        ({"shape": [3]}, "at least 2"),
        ({"shape": [0, DIM]}, "greater than or equal to 1"),
        ({"dtype": "float64"}, "float32"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_malformed_packed_codes_are_422(
    client: TestClient, codes: np.ndarray, change: dict[str, object], message: str
) -> None:
    response = client.post(f"/v1/models/{VAE}/decode", json={"z": packed(codes) | change})
    assert message in assert_error(response, 422, "invalid_input")["message"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e38])
def test_packed_codes_must_be_finite_and_in_range(
    client: TestClient, codes: np.ndarray, bad: float
) -> None:
    z = codes.copy()
    z[1, 5] = bad
    response = client.post(f"/v1/models/{VAE}/decode", json={"z": packed(z)})
    assert "finite" in assert_error(response, 422, "invalid_input")["message"]


def test_packed_codes_of_the_wrong_dimension_or_count_are_422(
    client: TestClient, codes: np.ndarray
) -> None:
    wrong_dim = np.zeros((1, 2), np.float32)
    response = client.post(f"/v1/models/{VAE}/decode", json={"z": packed(wrong_dim)})
    assert "32-d codes" in assert_error(response, 422, "invalid_input")["message"]
    three = client.post(f"/v1/models/{VAE}/interpolate", json={"z": packed(codes)})
    assert "exactly two" in assert_error(three, 422, "invalid_input")["message"]
    too_many = np.zeros((257, DIM), np.float32)
    response = client.post(f"/v1/models/{VAE}/decode", json={"z": packed(too_many)})
    assert "at most 256" in assert_error(response, 422, "invalid_input")["message"]
