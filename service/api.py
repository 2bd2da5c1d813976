"""HTTP routes. Each validates (through its dependencies), hands the work to `Operations` in the
inference pool, and shapes the reply. No ONNX, no numpy here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel

from service import examples
from service.bodies import parsed, request_body
from service.dependencies import (
    AttributeName,
    CustomAttributeName,
    LoadedDep,
    ModelDep,
    OperationsDep,
    PoolDep,
    ServicesDep,
    WantsPng,
)
from service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from service.operations import Picture
from service.schemas import (
    AttributeInfo,
    AttributeList,
    CustomAttributeRequest,
    DecodeRequest,
    DecodeResponse,
    EditRequest,
    EditResponse,
    EncodeRequest,
    EncodeResponse,
    ErrorBody,
    Health,
    InterpolateRequest,
    InterpolateResponse,
    ModelDetail,
    ModelList,
    Readiness,
    ReconstructRequest,
    ReconstructResponse,
    ReloadResponse,
    SampleRequest,
    SampleResponse,
)

# The request models, parsed by `bodies.parsed`: `service.openapi` adds them to the components.
REQUEST_MODELS = (
    EncodeRequest,
    DecodeRequest,
    SampleRequest,
    ReconstructRequest,
    EditRequest,
    InterpolateRequest,
    CustomAttributeRequest,
)
ERRORS = {
    401: "Missing or wrong API key (only when the server sets VAE_SERVE_API_KEY).",
    404: "Unknown model or attribute.",
    406: "`Accept: image/png` with more than one vector.",
    409: "The attribute is built into the bundle and read-only.",
    413: "Body over VAE_SERVE_MAX_BODY_BYTES, or an image over VAE_SERVE_MAX_IMAGE_PIXELS.",
    415: "An image that is not a decodable PNG, JPEG, GIF, WebP or BMP.",
    422: "Invalid input: wrong latent dimension, NaN or infinite values, counts, steps or "
    "strengths out of range, unknown fields, malformed JSON or multipart.",
    500: "Unexpected server fault (a bug); the body says nothing more.",
    503: "Overloaded: more requests running or queued than VAE_SERVE_INFERENCE_CONCURRENCY + "
    "VAE_SERVE_INFERENCE_QUEUE (code `overloaded`, with `Retry-After`); or more open connections "
    "than VAE_SERVE_MAX_CONNECTIONS (a plain-text 503 from the HTTP server); or the model's "
    "bundle is broken (see GET /v1/models); or custom vectors have no data directory configured.",
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
    if isinstance(result, Picture):
        return Response(result.content, media_type=result.media_type)
    return result


# --------------------------------------------------------------------------------- operational

ops = APIRouter(tags=["operations"])


@ops.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health()


@ops.get(
    "/readyz",
    summary="Readiness: every valid bundle loaded and warmed, and at least one",
    responses={503: {"model": Readiness, "description": "Not ready yet, or no model serves."}},
)
async def readyz(operations: OperationsDep, response: Response) -> Readiness:
    readiness = operations.readiness()
    response.status_code = status.HTTP_200_OK if readiness.ready else 503
    return readiness


@ops.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=METRICS_CONTENT_TYPE)


# -------------------------------------------------------------------------------------- models

v1 = APIRouter(prefix="/v1")


@v1.get("/models", tags=["models"], summary="List the models", responses=errors())
async def list_models(operations: OperationsDep, pool: PoolDep) -> ModelList:
    return await pool.run(operations.list_models)


@v1.get("/models/{model}", tags=["models"], summary="A model's metadata", responses=errors(*MODEL))
async def describe_model(entry: LoadedDep, operations: OperationsDep, pool: PoolDep) -> ModelDetail:
    return await pool.run(operations.describe, entry)


@v1.post(
    "/models/{model}/encode",
    tags=["latent space"],
    summary="Images -> z_mean, z_log_var (and a sampled z)",
    responses=errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(EncodeRequest, examples.ENCODE),
)
async def encode(
    model: ModelDep,
    body: Annotated[EncodeRequest, Depends(parsed(EncodeRequest))],
    operations: OperationsDep,
    pool: PoolDep,
) -> EncodeResponse:
    return await pool.run(operations.encode, model, body)


@v1.post(
    "/models/{model}/decode",
    tags=["latent space"],
    summary="z -> images (raw PNG with `Accept: image/png` and one vector)",
    response_model=DecodeResponse,
    responses=binary(DecodeResponse, PNG) | errors(*MODEL, *BODY, 406),
    openapi_extra=request_body(DecodeRequest, examples.DECODE),
)
async def decode(
    model: ModelDep,
    body: Annotated[DecodeRequest, Depends(parsed(DecodeRequest))],
    as_png: WantsPng,
    operations: OperationsDep,
    pool: PoolDep,
) -> Any:
    return reply(await pool.run(operations.decode, model, body, as_png))


@v1.post(
    "/models/{model}/sample",
    tags=["latent space"],
    summary="Draw images from the prior (VAE) or the training codes' distribution (AE)",
    responses=errors(*MODEL, *BODY),
    openapi_extra=request_body(SampleRequest, examples.SAMPLE),
)
async def sample(
    model: ModelDep,
    body: Annotated[SampleRequest, Depends(parsed(SampleRequest))],
    operations: OperationsDep,
    pool: PoolDep,
) -> SampleResponse:
    return await pool.run(operations.sample, model, body)


@v1.post(
    "/models/{model}/reconstruct",
    tags=["latent space"],
    summary="Images -> decode(z_mean)",
    responses=errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(ReconstructRequest, examples.RECONSTRUCT),
)
async def reconstruct(
    model: ModelDep,
    body: Annotated[ReconstructRequest, Depends(parsed(ReconstructRequest))],
    operations: OperationsDep,
    pool: PoolDep,
) -> ReconstructResponse:
    return await pool.run(operations.reconstruct, model, body)


@v1.post(
    "/models/{model}/edit",
    tags=["latent space"],
    summary="Add or subtract attributes: z = z_mean + Σ strength · vector, or sweep one",
    response_model=EditResponse,
    responses=binary(EditResponse, PNG) | errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(EditRequest, examples.EDIT),
)
async def edit(
    model: ModelDep,
    body: Annotated[EditRequest, Depends(parsed(EditRequest))],
    operations: OperationsDep,
    pool: PoolDep,
) -> Any:
    return reply(await pool.run(operations.edit, model, body))


@v1.post(
    "/models/{model}/interpolate",
    tags=["latent space"],
    summary="Walk from one image or code to another (JSON frames, a GIF or a PNG strip)",
    response_model=InterpolateResponse,
    responses=binary(InterpolateResponse, PNG, GIF) | errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(InterpolateRequest, examples.INTERPOLATE),
)
async def interpolate(
    model: ModelDep,
    body: Annotated[InterpolateRequest, Depends(parsed(InterpolateRequest))],
    operations: OperationsDep,
    pool: PoolDep,
) -> Any:
    return reply(await pool.run(operations.interpolate, model, body))


# ---------------------------------------------------------------------------------- attributes


@v1.get(
    "/models/{model}/attributes",
    tags=["attributes"],
    summary="The model's attribute vectors, built-in and custom",
    responses=errors(*MODEL),
)
async def list_attributes(
    model: ModelDep, operations: OperationsDep, pool: PoolDep
) -> AttributeList:
    return await pool.run(operations.list_attributes, model)


@v1.get(
    # `:path`: built-in names may hold a slash (Fashion-MNIST's "T-shirt/top").
    "/models/{model}/attributes/{name:path}",
    tags=["attributes"],
    summary="One attribute vector",
    responses=errors(*MODEL),
)
async def get_attribute(
    model: ModelDep, name: AttributeName, operations: OperationsDep, pool: PoolDep
) -> AttributeInfo:
    return await pool.run(operations.get_attribute, model, name)


@v1.put(
    "/models/{model}/attributes/{name}",
    tags=["attributes"],
    summary="Create or replace a custom attribute vector from example images",
    description="The vector is the mean z_mean of the positive examples minus that of the "
    "negative ones, as in training. Needs at least 3 of each. 201 when new, 200 when replaced.",
    responses=errors(*MODEL, *BODY, IMAGES, 409)
    | {201: {"model": AttributeInfo, "description": "Created."}},
    openapi_extra=request_body(CustomAttributeRequest, examples.CUSTOM_ATTRIBUTE_BODY),
)
async def put_attribute(
    model: ModelDep,
    name: CustomAttributeName,
    body: Annotated[CustomAttributeRequest, Depends(parsed(CustomAttributeRequest))],
    operations: OperationsDep,
    pool: PoolDep,
    response: Response,
) -> AttributeInfo:
    info, created = await pool.run(operations.put_attribute, model, name, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return info


@v1.delete(
    "/models/{model}/attributes/{name}",
    tags=["attributes"],
    summary="Delete a custom attribute vector",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(*MODEL, 409, 422),
)
async def delete_attribute(
    model: ModelDep, name: CustomAttributeName, operations: OperationsDep, pool: PoolDep
) -> None:
    await pool.run(operations.delete_attribute, model, name)


# --------------------------------------------------------------------------------------- admin


@v1.post(
    "/admin/reload",
    tags=["admin"],
    summary="Rescan the model directory: load new and changed bundles, drop removed ones",
    description="A changed bundle is validated and warmed before it replaces the old version; "
    "if it is invalid, the old version keeps serving and the reason is reported.",
    responses=errors(),
)
async def reload(operations: OperationsDep, pool: PoolDep) -> ReloadResponse:
    return await pool.run(operations.reload)
