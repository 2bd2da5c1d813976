"""The model bundle: the on-disk contract between training (which writes it) and the service.

models/<name>/
  encoder.onnx     image [N, C, H, W] float32 in [0, 1] -> z_mean [N, D] (+ z_log_var for a VAE)
  decoder.onnx     z [N, D] -> image [N, C, H, W] in [0, 1]
  attributes.json  attribute vectors (mean z_mean with the label minus mean without it)
  model.json       this manifest, with the sha256 of every other file
  latent_map.json  optional: held-out codes on a plane, and latent_map.webp, their thumbnails
                   (see vae_core.latent_map)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vae_core.errors import BundleInvalid, first_error
from vae_core.files import sha256_file
from vae_core.latent_map import (
    LATENT_MAP,
    LATENT_MAP_SPRITE,
    LatentMap,
    LatentMapInfo,
    read_latent_map,
)
from vae_core.preprocess import Preprocessing
from vae_core.vocabulary import LabelKind, ModelKind, PriorKind

SCHEMA_VERSION = 1
MANIFEST = "model.json"
ENCODER = "encoder.onnx"
DECODER = "decoder.onnx"
ATTRIBUTES = "attributes.json"
REQUIRED_FILES = (ENCODER, DECODER, ATTRIBUTES)
MAP_FILES = (LATENT_MAP, LATENT_MAP_SPRITE)  # required when the manifest lists a latent map
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
    label_kind: LabelKind
    train_size: int
    test_size: int


class LatentPrior(_Strict):
    """Where to sample codes: N(0, I) for a VAE, the training codes' Gaussian for an AE."""

    kind: PriorKind
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
    kind: ModelKind
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
    latent_map: LatentMapInfo | None = Field(
        default=None, description="The bundle's latent map, if it has one (latent_map.json)."
    )

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

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the encoder's input and the decoder's output."""
        return (self.image.channels, self.image.height, self.image.width)


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


@dataclass(frozen=True)
class Bundle:
    """A bundle read from disk and verified: its manifest, its built-in attribute vectors and its
    latent map (None when it has none)."""

    directory: Path
    manifest: Manifest
    attributes: dict[str, AttributeVector]
    latent_map: LatentMap | None = None

    @property
    def name(self) -> str:
        """The model's name: its folder's."""
        return self.directory.name


def read_bundle(directory: Path) -> Bundle:
    """Read model.json, check every file against its sha256, and read the attribute vectors and
    the latent map; BundleInvalid names the file and the reason."""
    manifest = read_manifest(directory)
    verify_files(directory, manifest)
    vectors = read_attributes(directory / ATTRIBUTES, manifest.latent_dim)
    latent_map = None
    if manifest.latent_map is not None:
        latent_map = read_latent_map(directory, manifest.latent_dim)
        if latent_map.info() != manifest.latent_map:
            raise BundleInvalid(
                f"{directory / MANIFEST}: latent_map says {manifest.latent_map}, "
                f"{LATENT_MAP} holds {latent_map.info()}"
            )
    return Bundle(directory, manifest, {vector.name: vector for vector in vectors}, latent_map)


def manifest_sha256(bundle_dir: Path) -> str:
    """The sha256 of model.json: a new value is a new version of the bundle."""
    path = bundle_dir / MANIFEST
    try:
        return sha256_file(path)
    except FileNotFoundError:
        raise BundleInvalid(f"{path}: missing") from None
    except OSError as exc:
        raise BundleInvalid(f"{path}: {exc.strerror}") from None


def read_manifest(bundle_dir: Path) -> Manifest:
    """Parse and check model.json; raise BundleInvalid naming the file and the reason."""
    path = bundle_dir / MANIFEST
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BundleInvalid(f"{path}: missing") from None
    except ValidationError as exc:
        raise BundleInvalid(f"{path}: {first_error(exc)}") from None


def verify_files(bundle_dir: Path, manifest: Manifest) -> None:
    """Check every required file exists and matches the sha256 the manifest records."""
    map_files = MAP_FILES if manifest.latent_map is not None else ()
    for required in (*REQUIRED_FILES, *map_files):
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


def checksums(directory: Path) -> dict[str, str]:
    """The sha256 of every file in a bundle folder but the manifest: its `files` field."""
    return {
        path.name: sha256_file(path)
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != MANIFEST
    }
