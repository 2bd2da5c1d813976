"""Request bodies of the HTTP API, each validated as JSON or as multipart form fields by the same
model (service.bodies)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from service.schemas.fields import (
    MAX_ITEMS_MARK,
    MAX_NEIGHBOURS,
    MIN_EXAMPLES,
    AttributeName,
    Count,
    Images,
    Seed,
    Steps,
    Strength,
    within_max_items,
)
from service.schemas.latents import CodeFormat, Latents, TwoLatents
from vae_core.calibration import MAX_FPR
from vae_core.vocabulary import InterpolationMethod, SamplerName, ScoreName


class _Request(BaseModel):
    # Strict: `true` is not a number and "8" not an int (multipart fields arrive JSON-decoded).
    model_config = ConfigDict(extra="forbid", strict=True)


class _ImagesOrLatents(_Request):
    images: Images | None = None
    z: Latents | None = None

    @model_validator(mode="after")
    def _exactly_one_input(self) -> _ImagesOrLatents:
        if (self.images is None) == (self.z is None):
            raise ValueError("give either images or z, not both and not neither")
        return self

    def count(self) -> int:
        return len(self.images or self.z or [])


class EncodeRequest(_Request):
    images: Images
    sample: bool = Field(
        False, description="Also draw z ~ q(z|x) = N(z_mean, exp(z_log_var)); an AE gives z_mean."
    )
    seed: Seed | None = Field(None, description="Seed for the sample; random when omitted.")
    code_format: CodeFormat = "json"


class DecodeRequest(_Request):
    z: Latents


class SampleRequest(_Request):
    n: Count = Field(8, description="How many images, at most VAE_SERVE_MAX_ITEMS.")
    seed: Seed | None = Field(None, description="Same seed, same images; random when omitted.")
    sampler: SamplerName | None = Field(
        None,
        description="prior: N(0, I) (a VAE only); gaussian: the one Gaussian fitted to the "
        "training codes; gmm: the mixture of Gaussians fitted to them. Omitted: the model's "
        "default, the one with the lowest measured Fréchet distance (GET /v1/models/{model} "
        "lists them).",
    )
    temperature: float = Field(
        1.0, ge=0.0, le=10.0, allow_inf_nan=False, description="Scales the sampler's spread."
    )
    code_format: CodeFormat = "json"


class ReconstructRequest(_Request):
    images: Images
    code_format: CodeFormat = "json"


class Sweep(_Request):
    """One attribute at several strengths: one output per strength, for one input."""

    attribute: AttributeName
    strengths: Annotated[
        list[Strength],
        Field(min_length=1, json_schema_extra={MAX_ITEMS_MARK: "maxItems"}),
        AfterValidator(within_max_items),
    ]


class EditRequest(_ImagesOrLatents):
    attributes: Annotated[
        dict[AttributeName, Strength],
        Field(json_schema_extra={MAX_ITEMS_MARK: "maxProperties"}),
        AfterValidator(within_max_items),
    ] = Field(
        default_factory=dict,
        description="Attribute name -> strength: z = z_mean + Σ strength · vector.",
    )
    sweep: Sweep | None = Field(
        None, description="Sweep one attribute over strengths; needs exactly one image or z."
    )
    format: Literal["json", "strip"] = Field(
        "json", description="json: base64 PNGs and z; strip: one PNG, outputs left to right."
    )
    code_format: CodeFormat = "json"

    @model_validator(mode="after")
    def _sweep_needs_one_input(self) -> EditRequest:
        if self.sweep is not None and self.count() != 1:
            raise ValueError(f"a sweep takes exactly one image or z, got {self.count()}")
        return self


class InterpolateRequest(_ImagesOrLatents):
    images: Annotated[Images, Field(min_length=2, max_length=2)] | None = None
    z: TwoLatents | None = None
    steps: Steps = Field(8, description="Frames from the first to the second input, both included.")
    method: InterpolationMethod = "linear"
    format: Literal["json", "gif", "strip"] = Field(
        "json", description="json: base64 PNGs and z; gif: animated GIF; strip: one PNG."
    )
    frame_ms: int = Field(100, ge=10, le=10_000, description="GIF frame duration.")
    code_format: CodeFormat = "json"

    @model_validator(mode="after")
    def _two_ends(self) -> InterpolateRequest:
        if self.count() != 2:
            raise ValueError(f"interpolation takes exactly two images or two z, got {self.count()}")
        return self


class CustomAttributeRequest(_Request):
    positive: Annotated[
        Images, Field(min_length=MIN_EXAMPLES, description="Images that have the attribute.")
    ]
    negative: Annotated[
        Images, Field(min_length=MIN_EXAMPLES, description="Images that do not have it.")
    ]


class ProjectRequest(_ImagesOrLatents):
    neighbours: int = Field(
        8,
        ge=0,
        le=MAX_NEIGHBOURS,
        description="How many of the map's points to list for each input, nearest first in code "
        "space (Euclidean, to their stored z_mean); 0 for none. Fewer if the map holds fewer.",
    )


class ScoreRequest(_Request):
    images: Images
    score: ScoreName | None = Field(
        None,
        description="Which score decides: combined (the calibrated combination of the others), "
        "latent (-log density of z_mean under the mixture fitted to the training codes), "
        "reconstruction (the training loss of the decoded z_mean, per pixel), l1 (its mean "
        "absolute pixel error), elbo (-ELBO, nats), nll (importance-sampled -log p(x), nats), "
        "complexity (-ELBO in bits minus the PNG length in bits). A VAE offers them all, an AE "
        "combined, latent, reconstruction and l1. Omitted: the model's default, its best measured "
        "(GET /v1/models/{model} lists them with their figures).",
    )
    fpr: float | None = Field(
        None,
        gt=0,
        le=MAX_FPR,
        allow_inf_nan=False,
        description="False-positive rate in (0, 0.5]: an image is anomalous when its p-value is "
        "at most this, i.e. its score is above the calibrated threshold. Omitted (and no "
        "threshold): the model's default rate.",
    )
    threshold: float | None = Field(
        None,
        allow_inf_nan=False,
        description="An explicit threshold in the score's units instead of a rate: anomalous "
        "when the score is above it.",
    )
    map: bool = Field(
        False, description="Add each image's per-pixel anomaly map, a grayscale base64 PNG."
    )
    map_values: bool = Field(
        False, description="Add each image's per-pixel map as numbers, [height][width]."
    )
    all_scores: bool = Field(False, description="Add every score the model offers.")

    @model_validator(mode="after")
    def _rate_or_threshold(self) -> ScoreRequest:
        if self.fpr is not None and self.threshold is not None:
            raise ValueError("give fpr or threshold, not both")
        return self
