"""The model bundle: the on-disk contract between training (which writes it) and the service.

models/<name>/
  encoder.onnx     image [N, C, H, W] float32 in [0, 1] -> z_mean [N, D] (+ z_log_var for a VAE)
  decoder.onnx     z [N, D] -> image [N, C, H, W] in [0, 1]
  attributes.json  attribute vectors (mean z_mean with the label minus mean without it)
  samplers.npz     the Gaussian and the mixture of Gaussians fitted to the training codes
                   (optional: a bundle without it samples from `latent_prior` alone)
  model.json       this manifest, with the sha256 of every other file
  latent_map.json  optional: held-out codes on a plane, and latent_map.webp, their thumbnails
                   (see vae_core.latent_map)
  anomaly.npz      optional: the anomaly scores of the validation images, which calibrate
                   p-values and thresholds (see vae_core.calibration)
  encoder.int8.onnx, decoder.int8.onnx
                   optional: the same graphs with int8 matrix products, recorded in the
                   manifest's `int8` (see vae_core.precision)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from vae_core.calibration import ANOMALY, AnomalyInfo, Calibration, read_calibration
from vae_core.errors import BundleInvalid, first_error
from vae_core.files import sha256_file
from vae_core.frozen import Record
from vae_core.latent_map import (
    LATENT_MAP,
    LATENT_MAP_SPRITE,
    LatentMap,
    LatentMapInfo,
    read_latent_map,
)
from vae_core.precision import FP32_FILES, Int8Record
from vae_core.preprocess import Preprocessing
from vae_core.sampling import GaussianMixture, read_samplers, single_gaussian, standard_normal
from vae_core.vocabulary import (
    FolderLayout,
    GraphName,
    LabelKind,
    ModelKind,
    Precision,
    PriorKind,
    SamplerName,
    SplitSource,
)

SCHEMA_VERSION = 1
MANIFEST = "model.json"
ENCODER = FP32_FILES["encoder"]
DECODER = FP32_FILES["decoder"]
ATTRIBUTES = "attributes.json"
SAMPLERS = "samplers.npz"
REQUIRED_FILES = (ENCODER, DECODER, ATTRIBUTES)
MAP_FILES = (LATENT_MAP, LATENT_MAP_SPRITE)  # required when the manifest lists a latent map
NORMALISATION = (
    "none: vector = mean(z_mean | label) - mean(z_mean | not label); strength 1.0 moves a code by "
    "the full difference of the two group means"
)

# The widest latent the service takes: requests validate vectors against it before parsing them.
MAX_LATENT_DIM = 4096


class ImageSpec(Record):
    channels: int = Field(ge=1, le=4)
    height: int = Field(ge=1)
    width: int = Field(ge=1)


class SplitCard(Record):
    """One split of a folder dataset: its size, its origin, and how many images carry each label."""

    images: int = Field(ge=0)
    source: SplitSource
    label_counts: dict[str, int] = Field(
        description="Images of each class, or images with each attribute set; empty if unlabeled."
    )


class DatasetCard(Record):
    """What a dataset trained from a folder of images held. How each image became the encoder's
    input is the manifest's `preprocessing`."""

    layout: FolderLayout
    splits: dict[str, SplitCard] = Field(description="train, val and test.")
    split_seed: int = Field(description="Seed of the draw of every split whose source is seeded.")
    skipped_images: int = Field(
        ge=0, description="Undecodable images left out (--skip-bad-images)."
    )
    files_sha256: str = Field(
        description="sha256 of the sorted lines '<relative path>\\t<size in bytes>\\n' of the "
        "images used."
    )


class DatasetInfo(Record):
    name: str
    labels: list[str] = Field(description="Class or attribute names, in label order.")
    label_kind: LabelKind
    train_size: int
    test_size: int
    card: DatasetCard | None = Field(
        default=None, description="Layout, splits and label counts of a folder dataset."
    )

    @model_validator(mode="after")
    def _no_labels_without_kind(self) -> DatasetInfo:
        if self.label_kind == "none" and self.labels:
            raise ValueError("label_kind none has no labels")
        return self


class LatentPrior(Record):
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


class SamplerScore(Record):
    """One sampler the bundle offers, with how close its decoded samples come to the test set."""

    name: SamplerName
    frechet_distance: float | None = Field(
        default=None,
        description="Fréchet distance between the feature network's features of decoded samples "
        "(temperature 1) and of the test images; lower is better. Null: not measured.",
    )


class MixtureChoice(Record):
    """How many components the fitted mixture has, and how that number was chosen."""

    components: int = Field(ge=1)
    criterion: str = Field(description="How `components` was chosen.")
    held_out_codes: int = Field(ge=1, description="Codes the criterion was computed on.")
    scores: dict[str, float] = Field(
        description="The criterion for each number of components tried (lower is better)."
    )


class SamplerSet(Record):
    """The samplers a bundle offers: `prior` (a VAE's N(0, I)) and the fitted `gaussian` and
    `gmm`, whose parameters are in samplers.npz."""

    default: SamplerName = Field(
        description="The sampler used when none is named: the lowest Fréchet distance measured."
    )
    offered: list[SamplerScore]
    mixture: MixtureChoice

    @model_validator(mode="after")
    def _default_is_best(self) -> SamplerSet:
        names = [s.name for s in self.offered]
        if len(set(names)) != len(names) or not {"gaussian", "gmm"} <= set(names):
            raise ValueError(f"offered samplers {names}: need gaussian and gmm, each once")
        if self.default not in names:
            raise ValueError(f"default sampler {self.default!r} is not offered")
        distances = {s.name: s.frechet_distance for s in self.offered}
        measured = {name: d for name, d in distances.items() if d is not None}
        if len(measured) == len(distances) and distances[self.default] != min(measured.values()):
            raise ValueError(f"default sampler {self.default!r} is not the lowest Fréchet distance")
        return self

    def names(self) -> list[SamplerName]:
        return [s.name for s in self.offered]


class Evaluation(Record):
    """The project's own measure of a bundle on the real test set (`python -m training evaluate`):
    reconstruction of z_mean, and Fréchet distances in a classifier's feature space."""

    feature_network: str = Field(description="The classifier whose features are compared.")
    feature_network_sha256: str
    feature_network_accuracy: float = Field(description="Its accuracy on the real test images.")
    test_images: int = Field(ge=2)
    samples_per_sampler: int = Field(ge=2)
    seed: int
    reconstruction_bce_per_pixel: float
    reconstruction_mse_per_pixel: float
    reconstruction_accuracy: float = Field(
        description="The classifier's accuracy on the decoded z_mean of the test images (for "
        "attributes, the mean over the attributes the data varies)."
    )
    frechet_reconstructions: float = Field(
        description="Fréchet distance of the reconstructions to the test images."
    )
    frechet_test_halves: float = Field(
        description="Fréchet distance of one half of the test images to the other: the floor."
    )


class Manifest(Record):
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
    samplers: SamplerSet | None = Field(
        default=None, description="Absent: the bundle samples from `latent_prior` only."
    )
    evaluation: Evaluation | None = None
    files: dict[str, str] = Field(description="sha256 of every other file of the bundle.")
    created_at: str
    software: dict[str, str]
    latent_map: LatentMapInfo | None = Field(
        default=None, description="The bundle's latent map, if it has one (latent_map.json)."
    )
    anomaly: AnomalyInfo | None = Field(
        default=None,
        description="The bundle's anomaly calibration (anomaly.npz), if it has one: "
        "`python -m training calibrate` adds it.",
    )
    int8: Int8Record | None = Field(
        default=None,
        description="The bundle's int8 graphs, if it has any (encoder.int8.onnx, "
        "decoder.int8.onnx): recipe, quality gate, speed-ups.",
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
        if self.anomaly is not None and not set(self.anomaly.precisions) <= set(self.precisions):
            raise ValueError(f"anomaly calibrated at {self.anomaly.precisions}, bundle serves at "
                             f"{self.precisions}")  # fmt: skip
        return self

    @property
    def default_sampler(self) -> SamplerName:
        """The sampler used when none is named: the bundle's measured best, else its prior."""
        if self.samplers is not None:
            return self.samplers.default
        return "prior" if self.latent_prior.kind == "standard_normal" else "gaussian"

    @property
    def precisions(self) -> list[Precision]:
        """The precisions the bundle can serve at."""
        return ["fp32", "int8"] if self.int8 is not None else ["fp32"]

    def graph_files(self, precision: Precision) -> dict[GraphName, str]:
        """Each graph's file at this precision; BundleInvalid if the bundle has no int8 graphs."""
        if precision == "fp32":
            return dict(FP32_FILES)
        if self.int8 is None:
            raise BundleInvalid(f"{self.name}: no int8 graphs (python -m training quantize)")
        return self.int8.files()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the encoder's input and the decoder's output."""
        return (self.image.channels, self.image.height, self.image.width)


class AttributeVector(Record):
    name: str
    vector: list[float]
    count_positive: int = Field(ge=1)
    count_negative: int = Field(ge=1)
    norm: float
    custom: bool = False

    def as_array(self) -> np.ndarray:
        return np.asarray(self.vector, dtype=np.float32)


class AttributeFile(Record):
    normalisation: str = NORMALISATION
    vectors: list[AttributeVector]


@dataclass(frozen=True)
class Bundle:
    """A bundle read from disk and verified: its manifest, its built-in attribute vectors and its
    samplers (each a `GaussianMixture`, by name), latent map (None without one) and anomaly
    calibration at each precision calibrated (empty without one)."""

    directory: Path
    manifest: Manifest
    attributes: dict[str, AttributeVector]
    samplers: dict[SamplerName, GaussianMixture]
    latent_map: LatentMap | None = None
    calibrations: dict[Precision, Calibration] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The model's name: its folder's."""
        return self.directory.name


def read_bundle(directory: Path) -> Bundle:
    """Read model.json, check every file against its sha256, and read the attribute vectors, the
    latent map and the anomaly calibration; BundleInvalid names the file and the reason."""
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
    samplers = bundle_samplers(directory, manifest)
    calibrations = {}
    if manifest.anomaly is not None:
        calibrations = read_calibration(directory / ANOMALY, manifest.anomaly)
    vectors_by_name = {vector.name: vector for vector in vectors}
    return Bundle(directory, manifest, vectors_by_name, samplers, latent_map, calibrations)


def bundle_samplers(directory: Path, manifest: Manifest) -> dict[SamplerName, GaussianMixture]:
    """The samplers the manifest offers: N(0, I) for a VAE, and those of samplers.npz; a bundle
    without that file offers its `latent_prior` alone (`prior`, or an AE's `gaussian`)."""
    prior = manifest.latent_prior
    if manifest.samplers is None:
        if prior.mean is None or prior.cholesky is None:
            return {"prior": standard_normal(manifest.latent_dim)}
        return {"gaussian": single_gaussian(np.asarray(prior.mean), np.asarray(prior.cholesky))}
    if SAMPLERS not in manifest.files:
        raise BundleInvalid(
            f"{directory / MANIFEST}: samplers are offered but files lists no {SAMPLERS}"
        )
    fitted: dict[SamplerName, GaussianMixture] = dict(
        read_samplers(directory / SAMPLERS, manifest.latent_dim)
    )
    if fitted["gmm"].components != manifest.samplers.mixture.components:
        raise BundleInvalid(
            f"{directory / SAMPLERS}: the mixture's components do not match the manifest"
        )
    if "prior" in manifest.samplers.names():
        fitted = {"prior": standard_normal(manifest.latent_dim), **fitted}
    return fitted


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
    anomaly_files = (ANOMALY,) if manifest.anomaly is not None else ()
    int8_files = [g.file for g in manifest.int8.graphs.values()] if manifest.int8 else []
    for required in (*REQUIRED_FILES, *map_files, *anomaly_files, *int8_files):
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
