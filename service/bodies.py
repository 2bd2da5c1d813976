"""Request bodies in either encoding: JSON (images as base64 strings) or multipart/form-data (images
as file parts, repeated under one field name; other fields as form fields, JSON-encoded when not
plain text). Both are validated by the same pydantic model, so every endpoint has one handler.

`parsed(Model)` is the FastAPI dependency; `service.openapi.request_body` documents both encodings
(FastAPI cannot infer a body it does not parse itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from service.errors import InvalidInput
from vae_core.bundle import MAX_LATENT_DIM
from vae_core.errors import location

M = TypeVar("M", bound=BaseModel)
# Fields that carry images: always lists, one file part per image in multipart.
IMAGE_FIELDS = ("images", "positive", "negative")
MAX_FORM_FIELDS = 32
URLENCODED = "application/x-www-form-urlencoded"
# Room in the JSON budget for the fields around the vectors, images and attributes (`sweep`, ...).
JSON_SLACK = 64


def parsed(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that reads the body as JSON or multipart and validates it as `model`."""

    async def parse(request: Request) -> M:
        settings = request.app.state.services.settings
        context = {"max_items": settings.max_items}
        content_type = request.headers.get("content-type", "")
        try:
            if content_type.startswith("multipart/form-data"):
                fields = await _form(request, settings.max_items, settings.max_body_bytes)
                return model.model_validate(fields, context=context)
            # Anything else is read as JSON: `curl -d` says form-urlencoded but sends JSON.
            body = await request.body()
            check_json_size([body], settings.max_items)
            return model.model_validate_json(body, context=context)
        except ValidationError as exc:
            raise InvalidInput(_summary(exc, content_type), detail=validation_detail(exc)) from None

    return parse


def check_json_size(texts: Iterable[bytes], max_items: int) -> None:
    """422 for JSON text bigger in structure than any valid request, before it is parsed.

    Parsing builds every value first: ~40 bytes a number, ~300 an array, object or object member.
    A valid request holds at most `max_items` latent vectors (one array each) of at most
    MAX_LATENT_DIM numbers, `max_items` attributes or data: URLs (one colon each), and a few other
    fields; a 16 MiB body of `[0,0],` repeated would otherwise take a gigabyte, and seconds of the
    event loop, before validation could refuse it. Brackets, colons and commas are counted in the
    bytes, those inside strings too: upper bounds, in a few milliseconds.
    """
    structures = values = 0
    for text in texts:
        opened = text.count(b"[") + text.count(b"{")
        structures += opened + text.count(b":")
        values += opened + text.count(b",")
    limits = {
        "arrays, objects and members": (structures, 2 * max_items + JSON_SLACK),
        "values": (values, max_items * (MAX_LATENT_DIM + 1) + JSON_SLACK),
    }
    for what, (count, limit) in limits.items():
        if count > limit:
            raise InvalidInput(
                f"the body holds {count} JSON {what}, more than any valid request "
                f"({limit} with VAE_SERVE_MAX_ITEMS={max_items})",
                detail={"count": count, "limit": limit},
            )


async def _form(request: Request, max_items: int, max_part_bytes: int) -> dict[str, Any]:
    fields: dict[str, list[Any]] = {}
    try:
        async with request.form(
            max_files=2 * max_items, max_fields=MAX_FORM_FIELDS, max_part_size=max_part_bytes
        ) as form:
            items = form.multi_items()
            json_texts = (
                v.encode() for k, v in items if isinstance(v, str) and k not in IMAGE_FIELDS
            )
            check_json_size(json_texts, max_items)
            for key, value in items:
                fields.setdefault(key, []).append(await _form_item(key, value))
    except HTTPException as exc:  # Starlette's report of a malformed multipart body
        raise InvalidInput(f"malformed multipart body: {exc.detail}") from None
    return {k: v if k in IMAGE_FIELDS or len(v) > 1 else v[0] for k, v in fields.items()}


async def _form_item(key: str, value: UploadFile | str) -> Any:
    """A file part's bytes; an image field's text (base64) as is; other text as JSON when it parses
    (numbers, booleans, lists, objects), else as text; 422 for a broken list or object."""
    if isinstance(value, UploadFile):
        return await value.read()
    if key in IMAGE_FIELDS:
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        if value.lstrip().startswith(("[", "{")):  # meant as JSON: say why it is not
            raise InvalidInput(f"form field {key!r} is not valid JSON: {exc}") from None
        return value


def validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input (it may be megabytes of base64)."""
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _summary(exc: ValidationError, content_type: str) -> str:
    first = exc.errors(include_url=False)[0]
    where = location(first["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if first["type"] == "json_invalid" and content_type.startswith(URLENCODED):
        more += f" ({URLENCODED} bodies are read as JSON; send a form as multipart/form-data)"
    return f"invalid request body: {where}: {first['msg']}{more}"
