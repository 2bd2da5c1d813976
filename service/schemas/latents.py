"""Latent codes on the wire: JSON lists of numbers, or packed little-endian float32 in base64
(`PackedLatents`), accepted wherever `z` is and returned on request (`"code_format": "base64"`)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    model_validator,
)

from service.schemas.fields import MAX_ITEMS_MARK, within_max_items
from vae_core.bundle import MAX_LATENT_DIM

MAX_ABS_LATENT = 1e4  # far outside any trained code; keeps decoder arithmetic finite

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
    `z` is; returned for every code of a response when the request says
    `"code_format": "base64"`."""

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
    AfterValidator(within_max_items),
]
TwoLatents = Annotated[
    Annotated[LatentRows, Field(min_length=2, max_length=2), Tag("lists")]
    | Annotated[PackedLatents, Tag("packed")],
    Discriminator(_latent_form),
]
CodeFormat = Annotated[
    Literal["json", "base64"],
    Field(description="How codes come back: json, lists of numbers; base64, PackedLatents."),
]
LatentList = list[list[float]] | PackedLatents


def codes_out(z: np.ndarray, code_format: CodeFormat) -> LatentList:
    """Codes for a response: lists of numbers, or packed float32 when the request asked."""
    return PackedLatents.pack(z) if code_format == "base64" else z.tolist()
