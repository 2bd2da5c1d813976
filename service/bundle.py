"""The model bundle: the on-disk contract between training (which writes it) and the service.

models/<name>/
  encoder.onnx     image [N, C, H, W] float32 in [0, 1] -> z_mean [N, D] (+ z_log_var for a VAE)
  decoder.onnx     z [N, D] -> image [N, C, H, W] in [0, 1]
  attributes.json  attribute vectors (mean z_mean with the label minus mean without it)
  model.json       this manifest, with the sha256 of every other file
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.errors import BundleInvalid
from service.preprocess import Preprocessing

SCHEMA_VERSION = 1
MANIFEST = "model.json"
ENCODER = "encoder.onnx"
DECODER = "decoder.onnx"
ATTRIBUTES = "attributes.json"
TEMPORARY_SUFFIX = ".tmp"  # write_json_atomic's files before their rename
NORMALISATION = (
    "none: vector = mean(z_mean | label) - mean(z_mean | not label); strength 1.0 moves a code by "
    "the full difference of the two group means"
)

# The widest latent the service takes: requests validate vectors against it before parsing them.
MAX_LATENT_DIM = 4096


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageSpec(_Strict):
    channels: int = Field(ge=1, le=4)
    height: int = Field(ge=1)
    width: int = Field(ge=1)


class DatasetInfo(_Strict):
    name: str
    labels: list[str] = Field(description="Class or attribute names, in label order.")
    label_kind: Literal["class", "attribute"]
    train_size: int
    test_size: int


class LatentPrior(_Strict):
    """Where to sample codes: N(0, I) for a VAE, the training codes' Gaussian for an AE."""

    kind: Literal["standard_normal", "empirical_gaussian"]
    mean: list[float] | None = None
    cholesky: list[list[float]] | None = Field(
        default=None, description="Lower Cholesky factor of the training codes' covariance."
    )

    @model_validator(mode="after")
    def _empirical_needs_moments(self) -> LatentPrior:
        if self.kind == "empirical_gaussian" and (self.mean is None or self.cholesky is None):
            raise ValueError("an empirical_gaussian prior needs mean and cholesky")
        return self


class Manifest(_Strict):
    schema_version: Literal[1] = 1
    name: str
    kind: Literal["ae", "vae"]
    latent_dim: int = Field(ge=1, le=MAX_LATENT_DIM)
    image: ImageSpec
    preprocessing: Preprocessing
    dataset: DatasetInfo
    architecture: dict[str, Any]
    training: dict[str, Any]
    metrics: dict[str, float]
    latent_prior: LatentPrior
    files: dict[str, str] = Field(description="sha256 of every other file of the bundle.")
    created_at: str
    software: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        shape = (self.image.channels, self.image.height, self.image.width)
        if self.preprocessing.output_shape != shape:
            raise ValueError(
                f"preprocessing gives {self.preprocessing.output_shape}, image is {shape}"
            )
        if self.latent_prior.mean is not None and len(self.latent_prior.mean) != self.latent_dim:
            raise ValueError("latent_prior.mean does not match latent_dim")
        return self


class AttributeVector(_Strict):
    name: str
    vector: list[float]
    count_positive: int = Field(ge=1)
    count_negative: int = Field(ge=1)
    norm: float
    custom: bool = False

    def as_array(self) -> np.ndarray:
        return np.asarray(self.vector, dtype=np.float32)


class AttributeFile(_Strict):
    normalisation: str = NORMALISATION
    vectors: list[AttributeVector]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_sha256(bundle_dir: Path) -> str:
    """The sha256 of model.json: a new value is a new version of the bundle."""
    path = bundle_dir / MANIFEST
    try:
        return sha256_file(path)
    except FileNotFoundError:
        raise BundleInvalid(f"{path}: missing") from None
    except OSError as exc:
        raise BundleInvalid(f"{path}: {exc.strerror}") from None


# inode, size, mtime and ctime (ns) of a file: a write, replacement or deletion changes them.
Stamp = tuple[int, int, int, int]


def stamps(bundle_dir: Path) -> dict[str, Stamp]:
    """The stamp of each file in the folder, from one stat each: a cheap test for "unchanged".
    Empty if the folder cannot be read (so any comparison says "changed")."""
    try:
        with os.scandir(bundle_dir) as entries:
            return {entry.name: _stamp(entry.stat()) for entry in entries if entry.is_file()}
    except OSError:
        return {}


def _stamp(stat: os.stat_result) -> Stamp:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def read_manifest(bundle_dir: Path) -> Manifest:
    """Parse and check model.json; raise BundleInvalid naming the file and the reason."""
    path = bundle_dir / MANIFEST
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BundleInvalid(f"{path}: missing") from None
    except ValidationError as exc:
        raise BundleInvalid(f"{path}: {_first_error(exc)}") from None


def verify_files(bundle_dir: Path, manifest: Manifest) -> None:
    """Check every required file exists and matches the sha256 the manifest records."""
    for required in (ENCODER, DECODER, ATTRIBUTES):
        if required not in manifest.files:
            raise BundleInvalid(f"{bundle_dir / MANIFEST}: files lists no {required}")
    for filename, expected in manifest.files.items():
        path = bundle_dir / filename
        if not path.is_file():
            raise BundleInvalid(f"{path}: missing")
        try:
            actual = sha256_file(path)
        except OSError as exc:  # deleted since the check above, or unreadable
            raise BundleInvalid(f"{path}: {exc.strerror}") from None
        if actual != expected:
            raise BundleInvalid(f"{path}: sha256 does not match the manifest")


def read_attributes(path: Path, latent_dim: int) -> list[AttributeVector]:
    try:
        vectors = AttributeFile.model_validate_json(path.read_bytes()).vectors
    except (OSError, ValidationError) as exc:
        raise BundleInvalid(f"{path}: {exc}") from None
    for v in vectors:
        if len(v.vector) != latent_dim:
            raise BundleInvalid(
                f"{path}: vector {v.name!r} has {len(v.vector)} dims, not {latent_dim}"
            )
    return vectors


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary sibling, fsync, then rename: readers see old or new, never torn.

    The temporary name is unique, so concurrent writers (threads, workers, replicas sharing a
    volume) never write into the same file; the last rename wins. A writer killed before its
    rename leaves its temporary file behind: see remove_stale_temporaries."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def remove_stale_temporaries(directory: Path, older_than_s: float) -> list[Path]:
    """Delete the temporary files of write_json_atomic in `directory` that are older than
    `older_than_s`: left by writers killed before their rename. A younger one may belong to a live
    writer (another worker, or a replica sharing the volume), so it stays. Returns those deleted."""
    cutoff = time.time() - older_than_s
    removed = []
    for path in directory.glob(f".*{TEMPORARY_SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError:  # renamed by its writer meanwhile, or not ours to delete: leave it
            continue
    return removed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "document"
    return f"{where}: {err['msg']}"
