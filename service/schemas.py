"""Request and response bodies of the HTTP API.

Images travel as base64 PNG or JPEG strings in JSON, or as raw files in multipart uploads; both end
up as `bytes` here. List lengths are checked against the `max_items` setting, which the request
parser passes in the validation context.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sized
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from service.attributes import MIN_EXAMPLES
from vae_core.bundle import MAX_LATENT_DIM, DatasetInfo, ImageSpec, LatentPrior
from vae_core.preprocess import Preprocessing

DEFAULT_MAX_ITEMS = 256
# Marks a limit that is the `max_items` setting; service.openapi writes the number in.
MAX_ITEMS_MARK = "x-max-items"
MAX_ABS_LATENT = 1e4  # far outside any trained code; keeps decoder arithmetic finite
# Far above any flat latent served here (200 at most); bounds a request's numbers before the model
# is known (service.bodies sizes its JSON budget with it).
MAX_STRENGTH = 10.0
MAX_SEED = 2**63 - 1
SizedT = TypeVar("SizedT", bound=Sized)


# ------------------------------------------------------------------------------------- field types


def _base64_image(value: object) -> object:
    """base64 text (optionally a data: URL) -> bytes; raw bytes (a multipart upload) pass."""
    if not isinstance(value, str):
        return value
    text = value
    if value.startswith("data:"):
        _, comma, text = value.partition(",")
        if not comma:
            raise ValueError("a data: URL needs a comma before its base64 data")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def _within_max_items(value: SizedT, info: ValidationInfo) -> SizedT:
    limit = (info.context or {}).get("max_items", DEFAULT_MAX_ITEMS)
    if len(value) > limit:
        raise ValueError(f"at most {limit} per request (VAE_SERVE_MAX_ITEMS), got {len(value)}")
    return value


def _count_within_max_items(value: int, info: ValidationInfo) -> int:
    limit = (info.context or {}).get("max_items", DEFAULT_MAX_ITEMS)
    if value > limit:
        raise ValueError(f"at most {limit} (VAE_SERVE_MAX_ITEMS), got {value}")
    return value


ImageData = Annotated[
    bytes,
    BeforeValidator(_base64_image),
    WithJsonSchema(
        {"type": "string", "format": "byte", "description": "A base64-encoded PNG or JPEG image."}
    ),
]
Images = Annotated[
    list[ImageData],
    Field(
        min_length=1,
        description="base64 PNG or JPEG images, any size and mode.",
        json_schema_extra={MAX_ITEMS_MARK: "maxItems"},
    ),
    AfterValidator(_within_max_items),
]
LatentValue = Annotated[float, Field(ge=-MAX_ABS_LATENT, le=MAX_ABS_LATENT, allow_inf_nan=False)]
LatentVector = Annotated[list[LatentValue], Field(min_length=1, max_length=MAX_LATENT_DIM)]
LatentRows = Annotated[
    list[LatentVector],
    Field(
        min_length=1,
        description="Latent vectors, each of the model's latent_dim.",
        json_schema_extra={MAX_ITEMS_MARK: "maxItems"},
    ),
]


class PackedLatents(BaseModel):
    """Latent vectors as raw little-endian float32 in base64, row after row: 4·n·d bytes of
    base64 instead of ~10·n·d characters of JSON numbers, and no float parsing. Accepted wherever
    `z` is; returned for every code of a response when the request says `"latents": "base64"`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    dtype: Literal["float32"] = Field("float32", description="Always float32, little-endian.")
    shape: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)] = Field(
        description="[n vectors, latent_dim]."
    )
    data: str = Field(description="base64 of the n·latent_dim float32 values, row-major.")
    _array: np.ndarray | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _decode(self) -> PackedLatents:
        n, dim = self.shape
        if dim > MAX_LATENT_DIM:
            raise ValueError(f"shape: at most {MAX_LATENT_DIM} values per vector, got {dim}")
        try:
            raw = base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("data is not valid base64") from None
        if len(raw) != 4 * n * dim:
            raise ValueError(f"data holds {len(raw)} bytes; shape {self.shape} needs {4 * n * dim}")
        array = np.frombuffer(raw, dtype="<f4").reshape(n, dim).astype(np.float32)
        if not np.isfinite(array).all() or np.abs(array).max() > MAX_ABS_LATENT:
            raise ValueError(f"every value must be finite and within ±{MAX_ABS_LATENT:g}")
        self._array = array
        return self

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self) -> np.ndarray:
        assert self._array is not None  # set by the validator
        return self._array

    @classmethod
    def pack(cls, z: np.ndarray) -> PackedLatents:
        data = base64.b64encode(np.ascontiguousarray(z, dtype="<f4").tobytes()).decode("ascii")
        return cls.model_construct(shape=list(z.shape), data=data)


def _latent_form(value: object) -> str:
    """An object is packed codes, anything else lists: errors then speak of the form given."""
    return "packed" if isinstance(value, dict | PackedLatents) else "lists"


Latents = Annotated[
    Annotated[LatentRows, Tag("lists")] | Annotated[PackedLatents, Tag("packed")],
    Discriminator(_latent_form),
    AfterValidator(_within_max_items),
]
TwoLatents = Annotated[
    Annotated[LatentRows, Field(min_length=2, max_length=2), Tag("lists")]
    | Annotated[PackedLatents, Tag("packed")],
    Discriminator(_latent_form),
]
LatentEncoding = Annotated[
    Literal["json", "base64"],
    Field(description="How codes come back: json, lists of numbers; base64, PackedLatents."),
]
Strength = Annotated[float, Field(ge=-MAX_STRENGTH, le=MAX_STRENGTH, allow_inf_nan=False)]
Count = Annotated[
    int,
    Field(ge=1, json_schema_extra={MAX_ITEMS_MARK: "maximum"}),
    AfterValidator(_count_within_max_items),
]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
AttributeName = Annotated[str, Field(min_length=1, max_length=200)]
PNGList = Annotated[list[str], Field(description="base64 PNG images.")]
LatentList = list[list[float]] | PackedLatents


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


# ---------------------------------------------------------------------------------------- requests


class EncodeRequest(_Request):
    images: Images
    sample: bool = Field(
        False, description="Also draw z ~ q(z|x) = N(z_mean, exp(z_log_var)); an AE gives z_mean."
    )
    seed: Seed | None = Field(None, description="Seed for the sample; random when omitted.")
    latents: LatentEncoding = "json"


class DecodeRequest(_Request):
    z: Latents


class SampleRequest(_Request):
    n: Count = Field(8, description="How many images, at most VAE_SERVE_MAX_ITEMS.")
    seed: Seed | None = Field(None, description="Same seed, same images; random when omitted.")
    temperature: float = Field(
        1.0, ge=0.0, le=10.0, allow_inf_nan=False, description="Scales the prior's spread."
    )
    latents: LatentEncoding = "json"


class ReconstructRequest(_Request):
    images: Images
    latents: LatentEncoding = "json"


class Sweep(_Request):
    """One attribute at several strengths: one output per strength, for one input."""

    attribute: AttributeName
    strengths: Annotated[
        list[Strength],
        Field(min_length=1, json_schema_extra={MAX_ITEMS_MARK: "maxItems"}),
        AfterValidator(_within_max_items),
    ]


class EditRequest(_ImagesOrLatents):
    attributes: Annotated[
        dict[AttributeName, Strength],
        Field(json_schema_extra={MAX_ITEMS_MARK: "maxProperties"}),
        AfterValidator(_within_max_items),
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
    latents: LatentEncoding = "json"

    @model_validator(mode="after")
    def _sweep_needs_one_input(self) -> EditRequest:
        if self.sweep is not None and self.count() != 1:
            raise ValueError(f"a sweep takes exactly one image or z, got {self.count()}")
        return self


class InterpolateRequest(_ImagesOrLatents):
    images: Annotated[Images, Field(min_length=2, max_length=2)] | None = None
    z: TwoLatents | None = None
    steps: Annotated[
        int,
        Field(ge=2, json_schema_extra={MAX_ITEMS_MARK: "maximum"}),
        AfterValidator(_count_within_max_items),
    ] = Field(8, description="Frames from the first to the second input, both included.")
    method: Literal["linear", "slerp"] = "linear"
    format: Literal["json", "gif", "strip"] = Field(
        "json", description="json: base64 PNGs and z; gif: animated GIF; strip: one PNG."
    )
    frame_ms: int = Field(100, ge=10, le=10_000, description="GIF frame duration.")
    latents: LatentEncoding = "json"

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


# --------------------------------------------------------------------------------------- responses


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


class ModelSummary(ModelState):
    kind: Literal["ae", "vae"] | None = None
    latent_dim: int | None = None
    image: ImageSpec | None = None
    attributes: list[str] = Field(default_factory=list)


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelDetail(ModelSummary):
    dataset: DatasetInfo
    preprocessing: Preprocessing
    latent_prior: LatentPrior
    metrics: dict[str, float] = Field(description="Test-set metrics recorded at export.")
    training: dict[str, Any] = Field(description="The training run's settings and progress.")
    architecture: dict[str, Any]
    created_at: str


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
    prior: Literal["standard_normal", "empirical_gaussian"]
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
    outcome: Literal["added", "replaced", "unchanged", "removed", "kept_previous", "unavailable"]
    reason: str | None = None


class ReloadResponse(BaseModel):
    models: list[ReloadEntry]
