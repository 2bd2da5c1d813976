"""What every route module shares: the documented error responses, binary replies."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from service.operations.convert import Picture
from service.schemas.responses import ErrorBody

ERRORS = {
    401: "Missing or wrong API key (only when the server sets VAE_SERVE_API_KEY).",
    404: "Unknown model or attribute, or a model without a latent map (code `map_not_found`) or "
    "anomaly calibration (code `calibration_not_found`).",
    406: "`Accept: image/png` with more than one vector.",
    409: "The attribute is built into the bundle and read-only.",
    413: "Body over VAE_SERVE_MAX_BODY_BYTES, or an image over VAE_SERVE_MAX_IMAGE_PIXELS.",
    415: "An image that is not a decodable PNG, JPEG, GIF, WebP or BMP.",
    422: "Invalid input: wrong latent dimension, NaN or infinite values, counts, steps or "
    "strengths out of range, unknown fields, malformed JSON or multipart.",
    500: "Unexpected server fault (a bug); the body says nothing more.",
    503: "Overloaded: the request would wait longer than VAE_SERVE_LATENCY_BUDGET_S for inference "
    "(the requests ahead over the measured drain rate), or VAE_SERVE_INFERENCE_QUEUE are already "
    "waiting (code `overloaded`, with `Retry-After` from the drain rate, answered before the body "
    "is read); or more open connections than VAE_SERVE_MAX_CONNECTIONS (also `overloaded`; the "
    "connection is then closed); or the model's bundle is broken (see GET /v1/models); or custom "
    "vectors have no data directory configured.",
    504: "The request's inference took longer than VAE_SERVE_INFERENCE_TIMEOUT_S.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (overload only).",
        "schema": {"type": "integer"},
    }
}
PNG = {"image/png": {"schema": {"type": "string", "format": "binary"}}}
GIF = {"image/gif": {"schema": {"type": "string", "format": "binary"}}}
WEBP = {"image/webp": {"schema": {"type": "string", "format": "binary"}}}
MODEL = (404,)  # unknown model (a broken bundle is a 503, listed for every call)
BODY = (413, 422)  # body too large; invalid body
IMAGES = 415  # undecodable image


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, plus those any /v1 call can get: 401, 422,
    500, and the 503 and 504 of overload (listing 422 also stops FastAPI from documenting its own,
    differently shaped, one)."""
    wanted = sorted({401, 422, 500, 503, 504, *codes})
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": ERRORS[code]} for code in wanted
    }
    responses[503]["headers"] = RETRY_AFTER
    return responses


def binary(model: type[BaseModel], *media: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """A 200 that is JSON (`model`) or, on request, image bytes."""
    content = {k: v for m in media for k, v in m.items()}
    return {200: {"model": model, "content": content}}


def reply(result: BaseModel | Picture) -> BaseModel | Response:
    """A JSON body, or a binary picture as it is."""
    if isinstance(result, Picture):
        return Response(result.content, media_type=result.media_type)
    return result
