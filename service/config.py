"""Service settings: one class, read from `VAE_SERVE_*` environment variables (and the flags of
`python -m service`), validated at start-up, built once and passed to `service.app.create_app`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from vae_core.vocabulary import PrecisionSetting

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
MIN_API_KEY_LENGTH = 8


class Settings(BaseSettings):
    """Everything an operator can set. Each field maps to `VAE_SERVE_<FIELD>`."""

    # An empty variable (`VAE_SERVE_API_KEY=` in a compose file) means unset.
    model_config = SettingsConfigDict(
        env_prefix="VAE_SERVE_", env_ignore_empty=True, extra="forbid", frozen=True
    )

    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 in a container.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    model_dir: Path = Field(
        Path("models"), description="Folder of model bundles, one sub-folder per model."
    )
    data_dir: Path | None = Field(
        None,
        description="Writable folder for custom attribute vectors "
        "(<data_dir>/<model>/attributes/<name>.json). Unset: custom vectors are off.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="When set, every /v1 call needs it in `X-API-Key` (or `Authorization: Bearer`)."
        " Health, metrics and docs stay open.",
    )
    log_level: LogLevel = Field("info", description="Minimum level of the JSON log lines.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, comma-separated. Empty (the default): CORS is off.",
    )
    max_items: int = Field(
        256, ge=1, le=10_000, description="Most images, vectors, samples or steps in one request."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    max_image_pixels: int = Field(
        25_000_000,
        ge=64,
        description="Largest decoded image, in pixels (413 above); checked from the header "
        "before decoding, against decompression bombs.",
    )
    max_request_pixels: int = Field(
        100_000_000,
        ge=64,
        description="Most decoded pixels in all the images of one request (413 above), summed "
        "from the headers before decoding: bounds the CPU one request can take.",
    )
    intra_op_threads: int = Field(
        1, ge=1, le=256, description="ONNX Runtime threads per graph run (intra-op)."
    )
    max_rows_per_run: int = Field(
        32,
        ge=1,
        le=4096,
        description="Most rows (images or codes) in one ONNX Runtime run: a larger batch runs in "
        "slices of this many, so a run's working memory stays bounded whatever a request holds.",
    )
    inference_concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=256,
        description="Requests whose inference (decode, preprocess, ONNX, PNG) runs at once, in a "
        "thread pool off the event loop. Defaults to the number of CPUs. With batching on, this "
        "also bounds how many requests can meet in one batch: raise it (e.g. to 64).",
    )
    latency_budget_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Admission by time: a request whose expected wait for an inference slot (the "
        "requests ahead of it over the measured drain rate) is over this many seconds is refused "
        "at once with 503 `overloaded` and a `Retry-After` computed from the drain rate, before "
        "its body is read. A fast model thus queues many requests and a slow one few.",
    )
    inference_queue: int = Field(
        1024,
        ge=0,
        le=100_000,
        description="Hard bound on the requests waiting for an inference slot, for memory (each "
        "holds its body): past inference_concurrency + inference_queue a request is refused with "
        "503 whatever its expected wait. The latency budget refuses long before, normally.",
    )
    inference_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Longest a request's inference (queueing included) may take; 504 past it.",
    )
    max_connections: int = Field(
        1024,
        ge=1,
        le=100_000,
        description="Open connections and in-flight requests per worker; past it, a request "
        "gets 503 `overloaded` (JSON, with `Retry-After`) and its connection is closed.",
    )
    max_request_line_bytes: int = Field(
        8192,
        ge=256,
        le=1_048_576,
        description="Longest request target (path and query); 414 past it.",
    )
    max_header_bytes: int = Field(
        16384,
        ge=1024,
        le=1_048_576,
        description="Most bytes in all of a request's header names and values; 431 past it.",
    )
    max_headers: int = Field(100, ge=8, le=10_000, description="Most header fields; 431 past it.")
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Longest time from a connection (or a request's first byte) to its last "
        "header; past it, 408 and the connection is closed (slow-header attacks).",
    )
    body_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Longest time to receive a request's body, from its headers to its last byte; "
        "past it, 408 and the connection is closed (slow-body attacks).",
    )
    shutdown_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="On SIGTERM, after drain_s: stop accepting and let in-flight requests "
        "(those queued for the inference pool or the batcher too) finish for at most this long, "
        "then exit.",
    )
    drain_s: float = Field(
        0.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="On SIGTERM, how long to keep serving with /readyz (and V2 readiness) "
        "answering 503 and every response closing its connection, so that a load balancer or "
        "Kubernetes sees the replica leave before it stops accepting connections. 0 (a lone "
        "process): stop accepting at once. A second SIGTERM ends the wait.",
    )
    disk_check_interval_s: float = Field(
        1.0,
        ge=0.01,
        le=3600,
        allow_inf_nan=False,
        description="How often a watcher thread stats the loaded bundles' files (hashing only "
        "those whose stamp changed): a corrupted or deleted file makes its model 503 within this "
        "time, and restoring it brings the model back as soon. Off the request path.",
    )
    batching: bool = Field(
        False,
        description="Dynamic batching: concurrent runs of the same graph are merged into one "
        "ONNX Runtime run. Off: every request runs alone.",
    )
    batch_max_size: int = Field(
        64, ge=1, le=4096, description="Most rows (images or codes) in one merged run."
    )
    batch_max_wait_ms: float = Field(
        2.0,
        ge=0,
        le=1000,
        allow_inf_nan=False,
        description="Longest a request waits for batch-mates, in milliseconds; a lone request "
        "then runs alone.",
    )

    precision: PrecisionSetting = Field(
        "auto",
        description="The graphs each bundle serves: `fp32`, `int8` (the bundle's int8 graphs, "
        "written by `vae-serve quantize`; fp32 for a bundle without them), or `auto`: "
        "int8 where the bundle recommends it (it measured faster) and this CPU has the int8 "
        "instructions of the CPU it was measured on (e.g. AVX512-VNNI or AVX-VNNI), else fp32, "
        "with a log line saying why. See docs/precision.md.",
    )
    model_precision: Annotated[dict[str, PrecisionSetting], NoDecode] = Field(
        default_factory=dict,
        description="Per-model precision over `precision`, comma-separated `model=precision` "
        "pairs, e.g. `fashion-vae-32d=int8,faces-vae-200d=fp32`.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("model_precision", mode="before")
    @classmethod
    def _split_model_precision(cls, value: object) -> object:
        """`a=int8,b=fp32` -> {"a": "int8", "b": "fp32"}; each precision is then validated."""
        if not isinstance(value, str):
            return value
        pairs = {}
        for pair in filter(None, (part.strip() for part in value.split(","))):
            name, equals, precision = pair.partition("=")
            if not equals or not name.strip():
                raise ValueError(f"{pair!r}: expected model=precision, e.g. fashion-vae-32d=int8")
            pairs[name.strip()] = precision.strip()
        return pairs

    @field_validator("model_dir")
    @classmethod
    def _model_dir_exists(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"{value} is not a directory (the folder of model bundles)")
        return value

    @field_validator("data_dir")
    @classmethod
    def _data_dir_is_a_directory(cls, value: Path | None) -> Path | None:
        if value is not None and value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value

    @field_validator("api_key")
    @classmethod
    def _api_key_strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = value.get_secret_value()
        if len(key) < MIN_API_KEY_LENGTH or key != key.strip():
            raise ValueError(
                f"must be at least {MIN_API_KEY_LENGTH} characters with no surrounding spaces"
            )
        return value

    def environment(self) -> dict[str, str]:
        """These settings as `VAE_SERVE_*` variables, for worker processes to rebuild them."""
        values = self.model_dump(exclude_none=True)
        values["cors_origins"] = ",".join(self.cors_origins)
        values["model_precision"] = ",".join(f"{k}={v}" for k, v in self.model_precision.items())
        if self.api_key is not None:
            values["api_key"] = self.api_key.get_secret_value()
        return {f"VAE_SERVE_{key.upper()}": str(value) for key, value in values.items()}
