"""Field types of the request bodies, with the limits they enforce.

Images travel as base64 PNG or JPEG strings in JSON, or as raw files in multipart uploads; both end
up as `bytes` here. List lengths are checked against the `max_items` setting, which the request
parser passes in the validation context.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sized
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WithJsonSchema

DEFAULT_MAX_ITEMS = 256
# Marks a limit that is the `max_items` setting; service.openapi writes the number in.
MAX_ITEMS_MARK = "x-max-items"
MAX_STRENGTH = 10.0
MAX_SEED = 2**63 - 1
MAX_NEIGHBOURS = 64  # nearest map points listed per projected image or code
# A custom vector needs this many positive and this many negative example images.
MIN_EXAMPLES = 3
# ASCII letters, digits, space, '_', '.', '-'; starts with a letter or digit: no path tricks, no
# look-alike Unicode, a safe file name on any file system.
CUSTOM_NAME = r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}"
CUSTOM_NAME_PATTERN = f"^{CUSTOM_NAME}$"
SizedT = TypeVar("SizedT", bound=Sized)


def _base64_image(value: object) -> object:
    """base64 text (optionally a data: URL) -> bytes; raw bytes (a multipart upload) pass."""
    if not isinstance(value, str):
        return value
    text = value
    if value.startswith("data:"):
        _, comma, text = value.partition(",")
        if not comma:
            raise ValueError("a data: URL needs a comma before its base64 data")
    try:  # one copy, the decoded bytes; line breaks (rare) cost a second try
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def max_items(info: ValidationInfo) -> int:
    """The server's `max_items` setting, from the validation context."""
    limit: int = (info.context or {}).get("max_items", DEFAULT_MAX_ITEMS)
    return limit


def within_max_items(value: SizedT, info: ValidationInfo) -> SizedT:
    limit = max_items(info)
    if len(value) > limit:
        raise ValueError(f"at most {limit} per request (VAE_SERVE_MAX_ITEMS), got {len(value)}")
    return value


def _count_within_max_items(value: int, info: ValidationInfo) -> int:
    limit = max_items(info)
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
    AfterValidator(within_max_items),
]
Strength = Annotated[float, Field(ge=-MAX_STRENGTH, le=MAX_STRENGTH, allow_inf_nan=False)]
Count = Annotated[
    int,
    Field(ge=1, json_schema_extra={MAX_ITEMS_MARK: "maximum"}),
    AfterValidator(_count_within_max_items),
]
Steps = Annotated[
    int,
    Field(ge=2, json_schema_extra={MAX_ITEMS_MARK: "maximum"}),
    AfterValidator(_count_within_max_items),
]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
AttributeName = Annotated[str, Field(min_length=1, max_length=200)]
PNGList = Annotated[list[str], Field(description="base64 PNG images.")]
