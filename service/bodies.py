"""Request bodies in either encoding: JSON (images as base64 strings) or multipart/form-data (images
as file parts, repeated under one field name; other fields as form fields, JSON-encoded when not
plain text). Both are validated by the same pydantic model, so every endpoint has one handler.

Two steps, so that the event loop only moves bytes: `read_body` (on the loop) receives the body,
and for multipart splits it into its parts; `parse` (blocking, run in the inference pool by the
operations) checks the JSON budget, decodes and validates. An operation names its body model once,
with `@parses(Model)`; `service.openapi.request_body(operation)` reads it from there to document
both encodings (FastAPI cannot infer a body it does not parse itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from service.errors import InvalidInput
from vae_core.bundle import MAX_LATENT_DIM
from vae_core.errors import location
from vae_core.graphs import OnnxAutoencoder

M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")
T = TypeVar("T")
BODY_MODEL = "body_model"  # the attribute `parses` sets on an operation
# Fields that carry images: always lists, one file part per image in multipart.
IMAGE_FIELDS = ("images", "positive", "negative")
MAX_FORM_FIELDS = 32
URLENCODED = "application/x-www-form-urlencoded"
# Room in the JSON budget for the fields around the vectors, images and attributes (`sweep`, ...).
JSON_SLACK = 64


@dataclass(frozen=True)
class RawBody:
    """A body as received, not yet parsed: JSON text, or a multipart form's parts in order (file
    parts as bytes, text fields as text)."""

    content_type: str
    json: bytes = b""
    form: list[tuple[str, bytes | str]] | None = None


async def read_body(request: Request, max_items: int, max_part_bytes: int) -> RawBody:
    """Receive the body (on the event loop): its bytes, or for multipart its parts, within the
    form's limits on files and fields. Nothing is decoded or validated here."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return RawBody(content_type, form=await _form(request, max_items, max_part_bytes))
    # Anything else is read as JSON: `curl -d` says form-urlencoded but sends JSON.
    return RawBody(content_type, json=await request.body())


def parse(model: type[M], body: RawBody, max_items: int) -> M:
    """Validate `body` as `model`, after the JSON budget; 422 says why not. Blocking: CPU in
    proportion to the body, so the operations call it in the inference pool."""
    context = {"max_items": max_items}
    try:
        if body.form is not None:
            return model.model_validate(_form_fields(body.form, max_items), context=context)
        check_json_size([body.json], max_items)
        return model.model_validate_json(body.json, context=context)
    except ValidationError as exc:
        raise InvalidInput(
            _summary(exc, body.content_type), detail=validation_detail(exc)
        ) from None


class _Limited(Protocol):
    @property
    def max_items(self) -> int: ...


Op = TypeVar("Op", bound=_Limited)


def parses(
    body_model: type[M], before: Callable[[OnnxAutoencoder], object] | None = None
) -> Callable[
    [Callable[Concatenate[Op, OnnxAutoencoder, M, P], T]],
    Callable[Concatenate[Op, OnnxAutoencoder, RawBody, P], T],
]:
    """Make an operation `(self, model, body: M, ...)` take the raw body instead, and parse it as
    `body_model` first (in the pool, where the operation runs), after `before(model)`, a check that
    fails fast (a missing map, say) before any parsing. The operation carries its body model
    (`body_model_of`) for the route's OpenAPI entry."""

    def decorate(
        method: Callable[Concatenate[Op, OnnxAutoencoder, M, P], T],
    ) -> Callable[Concatenate[Op, OnnxAutoencoder, RawBody, P], T]:
        @wraps(method)
        def parsed(
            self: Op, model: OnnxAutoencoder, raw: RawBody, *args: P.args, **kwargs: P.kwargs
        ) -> T:
            if before is not None:
                before(model)
            return method(self, model, parse(body_model, raw, self.max_items), *args, **kwargs)

        setattr(parsed, BODY_MODEL, body_model)
        return parsed

    return decorate


def body_model_of(operation: Callable[..., Any]) -> type[BaseModel]:
    """The body model an operation parses (`@parses`)."""
    model: type[BaseModel] = getattr(operation, BODY_MODEL)
    return model


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


async def _form(request: Request, max_items: int, max_part_bytes: int) -> list[tuple[str, Any]]:
    try:
        async with request.form(
            max_files=2 * max_items, max_fields=MAX_FORM_FIELDS, max_part_size=max_part_bytes
        ) as form:
            return [
                (key, await value.read() if isinstance(value, UploadFile) else value)
                for key, value in form.multi_items()
            ]
    except HTTPException as exc:  # Starlette's report of a malformed multipart body
        raise InvalidInput(f"malformed multipart body: {exc.detail}") from None


def _form_fields(items: list[tuple[str, bytes | str]], max_items: int) -> dict[str, Any]:
    """A form's parts as the fields of a request model: image fields as lists of bytes or base64
    text, other text fields decoded as JSON when they are (after the JSON budget)."""
    check_json_size(
        (v.encode() for k, v in items if isinstance(v, str) and k not in IMAGE_FIELDS), max_items
    )
    fields: dict[str, list[Any]] = {}
    for key, value in items:
        fields.setdefault(key, []).append(_form_item(key, value))
    return {k: v if k in IMAGE_FIELDS or len(v) > 1 else v[0] for k, v in fields.items()}


def _form_item(key: str, value: bytes | str) -> Any:
    """A file part's bytes; an image field's text (base64) as is; other text as JSON when it parses
    (numbers, booleans, lists, objects), else as text; 422 for a broken list or object."""
    if isinstance(value, bytes) or key in IMAGE_FIELDS:
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        if value.lstrip().startswith(("[", "{")):  # meant as JSON: say why it is not
            raise InvalidInput(f"form field {key!r} is not valid JSON: {exc}") from None
        return value


# Larger than any body: a count of more digits reads as this (int() refuses over 4300 digits).
HUGE_COUNT = 10**18


def byte_count(text: str) -> int | None:
    """A count of bytes in a header (Content-Length, Inference-Header-Content-Length): ASCII
    digits only, else None (`str.isdigit` also takes '²' and '٣', which int() does not), of any
    length (a count past 18 digits reads as HUGE_COUNT)."""
    if not text.isascii() or not text.isdigit():
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else HUGE_COUNT


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
