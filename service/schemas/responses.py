"""Response bodies of the HTTP API, and the one error body."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service.schemas.fields import PNGList
from service.schemas.latents import LatentList
from vae_core.bundle import DatasetInfo, Evaluation, ImageSpec, LatentPrior
from vae_core.calibration import AnomalyInfo
from vae_core.latent_map import LatentMapInfo, MapLabels, ProjectionRecord, SpriteLayout
from vae_core.precision import Int8Record
from vae_core.preprocess import Preprocessing
from vae_core.vocabulary import ModelKind, Precision, ReloadOutcome, SamplerName, ScoreName


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. model_not_found.")
    message: str = Field(description="What was wrong, for a human.")
    detail: Any = Field(None, description="Structured context, e.g. validation errors.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ModelState(BaseModel):
    name: str
    available: bool
    reason: str | None = Field(
        None, description="Why the bundle is unavailable, or why its newer version is not served."
    )


class Readiness(BaseModel):
    ready: bool
    models: list[ModelState]
    draining: bool = Field(
        False, description="Shutting down (SIGTERM): still answering, soon to stop accepting."
    )


class ModelSummary(ModelState):
    kind: ModelKind | None = None
    latent_dim: int | None = None
    image: ImageSpec | None = None
    attributes: list[str] = Field(default_factory=list)
    precision: Precision | None = Field(
        None,
        description="The arithmetic the model's graphs run at: fp32, or int8 (its int8 graphs, "
        "measured against fp32 by a quality gate); null while unavailable.",
    )


class ModelList(BaseModel):
    models: list[ModelSummary]


class SamplerInfo(BaseModel):
    name: SamplerName
    frechet_distance: float | None = Field(
        description="Fréchet distance of its decoded samples to the test images, in the feature "
        "space of the project's classifier (lower is better); null if not measured."
    )
    default: bool = Field(description="Used when a sample request names no sampler.")


class ModelDetail(ModelSummary):
    dataset: DatasetInfo
    preprocessing: Preprocessing
    latent_prior: LatentPrior
    samplers: list[SamplerInfo] = Field(description="The samplers this model offers.")
    default_sampler: SamplerName
    evaluation: Evaluation | None = Field(
        description="The project's own measure of the model on the real test set "
        "(python -m training evaluate); null for a bundle exported without it."
    )
    metrics: dict[str, float] = Field(description="Test-set metrics recorded at export.")
    training: dict[str, Any] = Field(description="The training run's settings and progress.")
    architecture: dict[str, Any]
    created_at: str
    latent_map: LatentMapInfo | None = Field(
        None, description="The bundle's latent map (GET .../map), or null if it has none."
    )
    anomaly: AnomalyInfo | None = Field(
        None,
        description="The bundle's anomaly scores, their default, and what the project's "
        "evaluation measured of each (POST .../score); null without a calibration.",
    )
    precisions: list[Precision] = Field(description="The precisions the bundle can serve at.")
    precision_reason: str = Field(description="Why the model serves at `precision`.")
    int8: Int8Record | None = Field(
        None,
        description="The bundle's int8 graphs: how they were made, the quality gate's figures "
        "against fp32, the speed-ups and the CPU they were measured on; null without them.",
    )


class AttributeInfo(BaseModel):
    name: str
    count_positive: int = Field(description="Training (or example) images with the attribute.")
    count_negative: int = Field(description="Those without it.")
    norm: float = Field(description="Euclidean length of the vector.")
    custom: bool = Field(description="Computed from a user's examples, not shipped in the bundle.")
    vector: list[float]


class AttributeList(BaseModel):
    attributes: list[AttributeInfo]


class EncodeResponse(BaseModel):
    z_mean: LatentList
    z_log_var: LatentList | None = Field(description="null for an AE, which has no variance.")
    z: LatentList | None = Field(None, description="Sampled codes, when sample was true.")
    seed: int | None = Field(None, description="The seed used for z, to reproduce it.")


class DecodeResponse(BaseModel):
    images: PNGList


class SampleResponse(BaseModel):
    images: PNGList
    z: LatentList
    seed: int
    sampler: SamplerName = Field(description="The sampler that drew the codes.")
    note: str = Field(description="Where the codes come from.")


class ReconstructResponse(BaseModel):
    images: PNGList
    z_mean: LatentList


class EditResponse(BaseModel):
    images: PNGList
    z: LatentList


class InterpolateResponse(BaseModel):
    images: PNGList
    z: LatentList


class ReloadEntry(BaseModel):
    name: str
    outcome: ReloadOutcome
    reason: str | None = None


class ReloadResponse(BaseModel):
    models: list[ReloadEntry]


class LatentMapResponse(BaseModel):
    model: str
    split: str = Field(description="The held-out split of the points: point i is its i-th image.")
    count: int = Field(description="How many points.")
    latent_dim: int
    points: list[list[float]] = Field(description="[count, 2]: each point's position.")
    labels: MapLabels
    projection: ProjectionRecord = Field(
        description="position = (z - mean) @ components[:2]^T: places any code on the map. "
        "identity for a 2-d latent; else PCA of the points' codes."
    )
    code_mean: list[float] = Field(description="Mean of the points' codes, per dimension.")
    code_std: list[float] = Field(description="Their standard deviation, per dimension.")
    sprite: SpriteLayout = Field(description="Layout of the thumbnails (GET .../map/sprite).")


class Neighbour(BaseModel):
    index: int = Field(description="The map point (and its index in the split).")
    distance: float = Field(description="Euclidean distance to it in code space.")
    position: list[float] = Field(description="Its position on the map.")
    labels: list[int] = Field(description="Its labels, as indices into the map's label names.")


class ProjectedPoint(BaseModel):
    position: list[float] = Field(description="[x, y] on the map.")
    neighbours: list[Neighbour] = Field(description="The nearest map points, nearest first.")


class ProjectResponse(BaseModel):
    points: list[ProjectedPoint] = Field(description="One per image or code, in order.")


class ScoreResult(BaseModel):
    score: float = Field(description="The image's score; higher is more anomalous.")
    p_value: float = Field(
        description="(1 + validation images scoring at least as high) / (validation images + 1)."
    )
    anomalous: bool = Field(description="Whether the score is above the threshold.")
    scores: dict[ScoreName, float] | None = Field(
        None, description="Every score the model offers (all_scores)."
    )
    map: str | None = Field(
        None,
        description="Per-pixel anomaly map (map): a grayscale base64 PNG at the size the model "
        "sees the image, brighter where it is more anomalous (|x - x_hat|).",
    )
    map_values: list[list[float]] | None = Field(
        None, description="The same map as numbers in [0, 1], [height][width] (map_values)."
    )
    input: str | None = Field(
        None,
        description="With map: the image as the model sees it (its preprocessing applied), a "
        "base64 PNG whose pixels the map's align with.",
    )


class ScoreResponse(BaseModel):
    model: str
    score: ScoreName = Field(description="The score that decided.")
    fpr: float = Field(
        description="The false-positive rate used: requested, the model's default, or the share "
        "of validation images above an explicit threshold."
    )
    threshold: float = Field(description="Scores above it are anomalous.")
    results: list[ScoreResult] = Field(description="One per image, in order.")


class Histogram(BaseModel):
    edges: list[float] = Field(description="Bin edges, one more than the counts.")
    counts: list[int] = Field(description="Validation images per bin (the ends include outliers).")


class ScoreCalibration(BaseModel):
    name: ScoreName
    unit: str
    thresholds: dict[str, float] = Field(description="False-positive rate -> threshold.")
    histogram: Histogram = Field(description="The score's distribution on the validation images.")


class CalibrationResponse(BaseModel):
    model: str
    default_score: ScoreName
    default_fpr: float
    min_fpr: float = Field(description="The smallest rate the validation set can calibrate.")
    validation_images: int
    scores: list[ScoreCalibration]
