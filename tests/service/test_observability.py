"""Request ids, one JSON log line per request, and the Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.logs import ACCESS_LOGGER, JsonFormatter
from tests.service.helpers import b64

pytestmark = pytest.mark.unit

VAE = "fashion-vae-2d"


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """The access log as the server writes it: JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_every_response_has_a_request_id(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    error = client.get("/v1/models/nope")
    assert error.status_code == 404
    assert error.headers["x-request-id"]


def test_a_sane_client_request_id_is_kept_and_others_replaced(client: TestClient) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "trace-42.a:b"})
    assert kept.headers["x-request-id"] == "trace-42.a:b"
    for bad in ("has spaces", "x" * 200, "semi;colon"):
        replaced = client.get("/healthz", headers={"X-Request-ID": bad})
        assert replaced.headers["x-request-id"] != bad
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


def test_one_json_log_line_per_request(
    client: TestClient, access_log: io.StringIO, trouser: bytes
) -> None:
    ok = client.post(f"/v1/models/{VAE}/encode", json={"images": [b64(trouser)]})
    missing = client.get("/v1/models/nope", headers={"X-Request-ID": "abc-123"})
    assert (ok.status_code, missing.status_code) == (200, 404)
    lines = [json.loads(line) for line in access_log.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert (first["method"], first["path"], first["status"]) == (
        "POST", f"/v1/models/{VAE}/encode", 200,
    )  # fmt: skip
    assert first["request_id"] == ok.headers["x-request-id"]
    assert first["duration_ms"] > 0
    assert first["endpoint"] == "/v1/models/{model}/encode" and first["model"] == VAE
    assert (second["status"], second["request_id"]) == (404, "abc-123")
    assert second["model"] is None  # an unknown name never becomes a label


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, or 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_errors_latency_and_inference(
    client: TestClient, trouser: bytes
) -> None:
    before = client.get("/metrics").text
    encode = {"endpoint": "/v1/models/{model}/encode", "model": VAE}
    client.post(f"/v1/models/{VAE}/encode", json={"images": [b64(trouser)]})
    client.post(f"/v1/models/{VAE}/encode", json={"images": [b64(b"junk")]})
    client.post("/v1/models/made-up-name/encode", json={"images": [b64(trouser)]})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("vae_serve_requests_total", **encode, status="200") == 1
    assert (
        grew("vae_serve_request_errors_total", **encode, status="415", code="unsupported_image")
        == 1
    )
    assert grew("vae_serve_request_duration_seconds_count", **encode) == 2
    assert grew("vae_serve_inference_seconds_count", model=VAE, graph="encoder") == 1
    unknown = {"endpoint": encode["endpoint"], "model": "", "status": "404"}
    assert grew("vae_serve_request_errors_total", **unknown, code="model_not_found") == 1
    assert "made-up-name" not in after
    available = re.search(r"^vae_serve_models_available (\S+)$", after, re.MULTILINE)
    assert available is not None and float(available.group(1)) >= 3
