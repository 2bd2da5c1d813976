"""The precision each model serves at: the settings, the fallback to fp32 and its log line, what
GET /v1/models/{model} and /metrics report, and that int8 runs the bundle's int8 graphs."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError

import service.app
from service.app import create_app
from service.config import Settings
from tests.vae_core.test_precision import OLD, strip_int8
from vae_core import bundle
from vae_core.precision import INT8_FILES, CpuFeatures, parse_cpuinfo

pytestmark = pytest.mark.unit

LARGE, SMALL = "fashion-vae-32d", "fashion-vae-2d"
PRECISION_LOGGER = "vae_serve.precision"


@contextmanager
def serving(model_dir: Path, **settings: object) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=model_dir, **settings))) as client:  # type: ignore[arg-type]
        yield client


def _detail(client: TestClient, name: str) -> dict[str, object]:
    response = client.get(f"/v1/models/{name}")
    assert response.status_code == 200
    detail: dict[str, object] = response.json()
    return detail


def _on_cpu(monkeypatch: pytest.MonkeyPatch, cpu: CpuFeatures) -> None:
    """The app reads this CPU's flags instead of /proc/cpuinfo's."""
    monkeypatch.setattr(service.app, "cpu_features", lambda: cpu)


def test_the_api_and_the_metrics_say_which_precision_serves(model_dir: Path) -> None:
    with serving(model_dir, precision="int8") as client:
        detail = _detail(client, LARGE)
        assert detail["precision"] == "int8" and detail["precisions"] == ["fp32", "int8"]
        assert detail["precision_reason"] == "int8 was asked for"
        record = bundle.read_manifest(model_dir / LARGE).int8
        assert record is not None
        assert detail["int8"] == record.model_dump(mode="json")
        listed = client.get("/v1/models").json()["models"]
        assert {m["name"]: m["precision"] for m in listed} == {
            m["name"]: bundle.read_manifest(model_dir / m["name"]).precisions[-1] for m in listed
        }
        metrics = client.get("/metrics").text
    assert f'vae_serve_model_precision{{model="{LARGE}",precision="int8"}} 1.0' in metrics
    with serving(model_dir, precision="fp32") as client:
        detail = _detail(client, LARGE)
        metrics = client.get("/metrics").text
    assert (detail["precision"], detail["precision_reason"]) == ("fp32", "fp32 was asked for")
    assert f'vae_serve_model_precision{{model="{LARGE}",precision="fp32"}} 1.0' in metrics


def test_a_per_model_setting_overrides_the_global_one(model_dir: Path) -> None:
    with serving(model_dir, precision="fp32", model_precision={LARGE: "int8"}) as client:
        assert _detail(client, LARGE)["precision"] == "int8"
        assert _detail(client, SMALL)["precision"] == "fp32"


def test_decoding_at_int8_runs_the_bundles_int8_graph(model_dir: Path) -> None:
    z = np.random.default_rng(3).standard_normal((6, 32)).astype(np.float32)
    images = {}
    for precision in ("fp32", "int8"):
        with serving(model_dir, precision=precision) as client:
            response = client.post(f"/v1/models/{LARGE}/decode", json={"z": z.tolist()})
            assert response.status_code == 200
            images[precision] = np.stack([_pixels(b64) for b64 in response.json()["images"]])
    session = ort.InferenceSession(str(model_dir / LARGE / INT8_FILES["decoder"]))
    direct = np.rint(np.clip(session.run(None, {"z": z})[0][:, 0], 0, 1) * 255)
    assert np.abs(images["int8"] - direct).max() <= 1  # PNG rounding
    difference = np.abs(images["int8"] - images["fp32"])
    assert difference.max() > 0 and difference.mean() < 1.0  # another graph, the same images


def test_auto_falls_back_to_fp32_with_a_log_line_where_the_cpu_lacks_the_instructions(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    record = bundle.read_manifest(model_dir / LARGE).int8
    assert record is not None and record.recommended  # measured faster by quantize
    _on_cpu(monkeypatch, parse_cpuinfo(OLD))
    with caplog.at_level(logging.INFO, PRECISION_LOGGER), serving(model_dir) as client:
        detail = _detail(client, LARGE)
    assert detail["precision"] == "fp32"
    reason = str(detail["precision_reason"])
    assert "recommends int8" in reason and "has none of the instructions" in reason
    assert f"model {LARGE} serves at fp32: {reason}" in caplog.messages


def test_auto_serves_int8_where_the_cpu_has_the_instructions(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = bundle.read_manifest(model_dir / LARGE).int8
    assert record is not None and record.recommended
    _on_cpu(monkeypatch, record.measured_on)
    with serving(model_dir) as client:
        detail = _detail(client, LARGE)
    assert detail["precision"] == "int8"
    assert str(detail["precision_reason"]).startswith("the bundle recommends int8")


def test_int8_asked_of_a_bundle_without_int8_graphs_serves_fp32_with_a_warning(
    models_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    strip_int8(models_copy / SMALL)
    with (
        caplog.at_level(logging.INFO, PRECISION_LOGGER),
        serving(models_copy, precision="int8") as client,
    ):
        assert _detail(client, SMALL)["precision"] == "fp32"
        assert _detail(client, LARGE)["precision"] == "int8"
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warned] == [
        f"model {SMALL} serves at fp32: the bundle has no int8 graphs (python -m training quantize)"
    ]


def test_the_per_model_setting_reads_from_the_environment_and_refuses_bad_pairs(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAE_SERVE_MODEL_PRECISION", f" {LARGE}=int8, {SMALL} = fp32 ,")
    settings = Settings(model_dir=model_dir)
    assert settings.model_precision == {LARGE: "int8", SMALL: "fp32"}
    assert settings.precision == "auto"
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings
    for bad in (LARGE, f"{LARGE}=int4", "=int8"):
        with pytest.raises(ValidationError, match="model_precision"):
            Settings(model_dir=model_dir, model_precision=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="precision"):
        Settings(model_dir=model_dir, precision="int4")  # type: ignore[arg-type]


def _pixels(png_b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png_b64))), dtype=np.float64)
