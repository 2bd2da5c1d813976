"""Every error status of the contract, in the one error shape, with the service healthy after.
Hostile input (broken images, bombs, hostile JSON, numbers, names): test_hostile_input.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.operations.latent import LatentOperations
from service.runtime import in_pool
from tests.service.helpers import VAE, assert_error, assert_healthy, b64, png_header_only

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def strict(model_dir: Path) -> Iterator[TestClient]:
    """An app with small limits: 64 KiB bodies, 8 items, 4096-pixel images, 8192 per request."""
    settings = Settings(
        model_dir=model_dir,
        max_body_bytes=64 * 1024,
        max_items=8,
        max_image_pixels=4096,
        max_request_pixels=8192,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_unknown_model_is_404(client: TestClient, trouser: bytes) -> None:
    response = client.post("/v1/models/no-such-model/encode", json={"images": [b64(trouser)]})
    error = assert_error(response, 404, "model_not_found")
    assert VAE in error["detail"]["models"]
    assert_error(client.get("/v1/models/no-such-model"), 404, "model_not_found")
    assert_healthy(client, trouser)


def test_unknown_attribute_is_404(client: TestClient, trouser: bytes) -> None:
    body = {"images": [b64(trouser)], "attributes": {"Smiling": 1.0}}
    error = assert_error(
        client.post(f"/v1/models/{VAE}/edit", json=body), 404, "attribute_not_found"
    )
    assert "Trouser" in error["detail"]["attributes"]
    sweep = {"z": [[0.0, 0.0]], "sweep": {"attribute": "Nope", "strengths": [1.0]}}
    assert_error(client.post(f"/v1/models/{VAE}/edit", json=sweep), 404, "attribute_not_found")
    assert_error(client.get(f"/v1/models/{VAE}/attributes/Nope"), 404, "attribute_not_found")
    assert_healthy(client, trouser)


def test_unknown_route_and_wrong_method(client: TestClient, trouser: bytes) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    response = client.delete("/v1/models")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]
    assert_healthy(client, trouser)


def test_image_over_the_pixel_limit_is_413(strict: TestClient, trouser: bytes) -> None:
    big = png_header_only(65, 64)  # 4160 pixels > 4096
    response = strict.post(f"/v1/models/{VAE}/encode", json={"images": [b64(big)]})
    assert "65x64" in assert_error(response, 413, "payload_too_large")["message"]
    assert_healthy(strict, trouser)


def test_images_over_the_request_pixel_budget_are_413_before_decoding(
    strict: TestClient, trouser: bytes
) -> None:
    """Six 28x28 images and a 64x64 one hold 8800 pixels > 8192; the last is only a header, so a
    413 (not a 415) shows that the budget was checked from the headers before any decoding."""
    images = [b64(trouser)] * 6 + [b64(png_header_only(64, 64))]
    response = strict.post(f"/v1/models/{VAE}/encode", json={"images": images})
    error = assert_error(response, 413, "payload_too_large")
    assert error["detail"] == {"pixels": 6 * 28 * 28 + 64 * 64, "limit": 8192}
    assert "VAE_SERVE_MAX_REQUEST_PIXELS" in error["message"]
    eight = strict.post(f"/v1/models/{VAE}/encode", json={"images": [b64(trouser)] * 8})
    assert eight.status_code == 200  # 6272 pixels: within the budget


def test_body_over_the_limit_is_413(strict: TestClient, trouser: bytes) -> None:
    body = {"images": [b64(trouser)], "padding": "x" * (65 * 1024)}
    assert_error(strict.post(f"/v1/models/{VAE}/encode", json=body), 413, "payload_too_large")
    assert_healthy(strict, trouser)


def test_streamed_body_over_the_limit_is_413(strict: TestClient, trouser: bytes) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"z": [[0.0, 0.0]], "pad": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = strict.post(f"/v1/models/{VAE}/decode", content=chunks())
    assert_error(response, 413, "payload_too_large")
    assert_healthy(strict, trouser)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("decode", {"z": [[0.1, 0.2], [0.3]]}),  # ragged
        ("sample", {"n": 0}),
        ("sample", {"n": 4, "temperature": -1}),
        ("interpolate", {"z": [[0.0, 0.0], [1.0, 1.0]], "steps": 1}),
        ("interpolate", {"z": [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]}),
        ("interpolate", {"z": [[0.0, 0.0], [1.0, 1.0]], "method": "cubic"}),
        ("edit", {"z": [[0.0, 0.0]], "attributes": {"Trouser": 11}}),
        ("edit", {"z": [[0.0, 0.0]], "sweep": {"attribute": "Trouser", "strengths": [-20]}}),
        ("edit", {"z": [[0.0, 0.0]], "images": ["aGk="]}),  # both inputs
        ("edit", {"attributes": {"Trouser": 1}}),  # neither
        ("encode", {"images": []}),
    ],
)
def test_invalid_values_are_422(client: TestClient, trouser: bytes, path: str, body: dict) -> None:
    response = client.post(f"/v1/models/{VAE}/{path}", json=body)
    assert_error(response, 422, "invalid_input")
    assert_healthy(client, trouser)


def test_item_limit_is_configurable(strict: TestClient, trouser: bytes) -> None:
    ok = strict.post(f"/v1/models/{VAE}/decode", json={"z": [[0.0, 0.0]] * 8})
    assert ok.status_code == 200
    over = strict.post(f"/v1/models/{VAE}/decode", json={"z": [[0.0, 0.0]] * 9})
    assert "at most 8" in assert_error(over, 422, "invalid_input")["message"]
    assert_error(strict.post(f"/v1/models/{VAE}/sample", json={"n": 9}), 422, "invalid_input")


def test_default_item_limit_is_256(client: TestClient) -> None:
    assert client.post(f"/v1/models/{VAE}/sample", json={"n": 256, "seed": 0}).status_code == 200
    assert_error(client.post(f"/v1/models/{VAE}/sample", json={"n": 257}), 422, "invalid_input")


def test_png_for_several_vectors_is_406(client: TestClient, trouser: bytes) -> None:
    response = client.post(
        f"/v1/models/{VAE}/decode",
        json={"z": [[0.0, 0.0], [1.0, 1.0]]},
        headers={"Accept": "image/png"},
    )
    assert_error(response, 406, "not_acceptable")
    assert_healthy(client, trouser)


def test_a_bug_is_a_generic_500_without_internals(
    model_dir: Path, trouser: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    @in_pool
    def broken(self: LatentOperations, *args: object) -> None:
        raise RuntimeError("secret at /srv/internal/path.py")

    monkeypatch.setattr(LatentOperations, "sample", broken)
    app = create_app(Settings(model_dir=model_dir))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post(f"/v1/models/{VAE}/sample", json={"n": 1})
        error = assert_error(response, 500, "internal_error")
        assert "secret" not in response.text and "/srv" not in response.text
        assert error["detail"] is None
        assert_healthy(test_client, trouser)


def test_api_key_guards_v1_only(model_dir: Path, trouser: bytes) -> None:
    key = "correct horse battery staple"
    with TestClient(create_app(Settings(model_dir=model_dir, api_key=key))) as guarded:
        assert_error(guarded.get("/v1/models"), 401, "unauthorized")
        wrong = guarded.get("/v1/models", headers={"X-API-Key": key + "!"})
        assert_error(wrong, 401, "unauthorized")
        assert guarded.get("/v1/models", headers={"X-API-Key": key}).status_code == 200
        bearer = guarded.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert bearer.status_code == 200
        body = {"images": [b64(trouser)]}
        assert_error(guarded.post(f"/v1/models/{VAE}/encode", json=body), 401, "unauthorized")
        assert_error(guarded.post("/v1/admin/reload"), 401, "unauthorized")
        for open_path in ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json"):
            assert guarded.get(open_path).status_code == 200, open_path
        assert "X-API-Key" in str(guarded.get("/openapi.json").json()["components"])


def test_without_an_api_key_v1_is_open(client: TestClient) -> None:
    assert client.get("/v1/models").status_code == 200
    assert "securitySchemes" not in client.get("/openapi.json").json()["components"]


def test_weak_api_key_is_refused_at_start_up(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="at least 8"):
        Settings(model_dir=model_dir, api_key="short")


def test_cors_is_off_by_default_and_configurable(client: TestClient, model_dir: Path) -> None:
    origin = {"Origin": "https://example.org"}
    assert "access-control-allow-origin" not in client.get("/v1/models", headers=origin).headers
    settings = Settings(model_dir=model_dir, cors_origins="https://example.org")
    with TestClient(create_app(settings)) as cors:
        response = cors.get("/v1/models", headers=origin)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://example.org"
