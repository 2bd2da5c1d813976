"""Settings: the VAE_SERVE_ environment, the command-line flags over it, refusal of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.__main__ import settings_from
from service.config import Settings

pytestmark = pytest.mark.unit


def test_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAE_SERVE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("VAE_SERVE_PORT", "9001")
    monkeypatch.setenv("VAE_SERVE_MAX_ITEMS", "12")
    monkeypatch.setenv("VAE_SERVE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("VAE_SERVE_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("VAE_SERVE_API_KEY", "")  # empty means unset, as compose files write it
    settings = Settings()
    assert (settings.model_dir, settings.port, settings.max_items) == (tmp_path, 9001, 12)
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.log_level == "debug"
    assert settings.api_key is None


def test_defaults(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path)
    assert (settings.host, settings.port, settings.max_items) == ("127.0.0.1", 8000, 256)
    assert settings.cors_origins == [] and settings.api_key is None and settings.data_dir is None


def test_flags_override_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAE_SERVE_PORT", "9001")
    monkeypatch.setenv("VAE_SERVE_HOST", "0.0.0.0")
    monkeypatch.setenv("VAE_SERVE_MODEL_DIR", "/nonexistent")
    settings = settings_from(["--port", "9002", "--model-dir", str(tmp_path), "--workers", "2"])
    assert (settings.port, settings.host, settings.model_dir) == (9002, "0.0.0.0", tmp_path)
    assert settings.workers == 2


def test_the_environment_round_trip_rebuilds_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Settings(
        model_dir=tmp_path, data_dir=tmp_path / "data", api_key="k" * 16,
        cors_origins=["https://a.example"], max_items=9,
    )  # fmt: skip
    for name, value in original.environment().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", 0),
        ("max_items", 0),
        ("max_body_bytes", 10),
        ("intra_op_threads", 0),
        ("log_level", "loud"),
        ("model_dir", "/no/such/folder"),
        ("api_key", " padded-key-1234 "),
        ("unknown_setting", 1),
    ],
)
def test_bad_values_are_refused_at_start_up(tmp_path: Path, field: str, value: object) -> None:
    values = {"model_dir": tmp_path, field: value}
    with pytest.raises(ValidationError, match=field):
        Settings(**values)  # type: ignore[arg-type]


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="not a directory"):
        Settings(model_dir=tmp_path, data_dir=tmp_path / "file")
