"""The latent space: encode images, decode codes, sample, reconstruct, edit attributes, and walk
from one image or code to another. Each route parses its body (JSON or multipart) and awaits the
matching `LatentOperations` method."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service import examples
from service.dependencies import ModelName, model_call
from service.openapi import request_body
from service.operations.latent import LatentOperations
from service.routes.common import BODY, GIF, IMAGES, MODEL, PNG, binary, errors, reply
from service.schemas import responses

router = APIRouter(prefix="/v1", tags=["latent space"])


@router.post(
    "/models/{model}/encode",
    operation_id="encode",
    summary="Images -> z_mean, z_log_var (and a sampled z)",
    responses=errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(LatentOperations.encode, examples.ENCODE),
)
async def encode(model: ModelName, request: Request) -> responses.EncodeResponse:
    call = model_call(request, model)
    return await call.operations.latent.encode(call.model, await call.body())


@router.post(
    "/models/{model}/decode",
    operation_id="decode",
    summary="z -> images (raw PNG with `Accept: image/png` and one vector)",
    response_model=responses.DecodeResponse,
    responses=binary(responses.DecodeResponse, PNG) | errors(*MODEL, *BODY, 406),
    openapi_extra=request_body(LatentOperations.decode, examples.DECODE),
)
async def decode(model: ModelName, request: Request) -> Any:
    call = model_call(request, model)
    return reply(await call.operations.latent.decode(call.model, await call.body(), call.wants_png))


@router.post(
    "/models/{model}/sample",
    operation_id="sample",
    summary="Draw images from the prior (VAE) or the training codes' distribution (AE)",
    responses=errors(*MODEL, *BODY),
    openapi_extra=request_body(LatentOperations.sample, examples.SAMPLE),
)
async def sample(model: ModelName, request: Request) -> responses.SampleResponse:
    call = model_call(request, model)
    return await call.operations.latent.sample(call.model, await call.body())


@router.post(
    "/models/{model}/reconstruct",
    operation_id="reconstruct",
    summary="Images -> decode(z_mean)",
    responses=errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(LatentOperations.reconstruct, examples.RECONSTRUCT),
)
async def reconstruct(model: ModelName, request: Request) -> responses.ReconstructResponse:
    call = model_call(request, model)
    return await call.operations.latent.reconstruct(call.model, await call.body())


@router.post(
    "/models/{model}/edit",
    operation_id="edit",
    summary="Add or subtract attributes: z = z_mean + Σ strength · vector, or sweep one",
    response_model=responses.EditResponse,
    responses=binary(responses.EditResponse, PNG) | errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(LatentOperations.edit, examples.EDIT),
)
async def edit(model: ModelName, request: Request) -> Any:
    call = model_call(request, model)
    return reply(await call.operations.latent.edit(call.model, await call.body()))


@router.post(
    "/models/{model}/interpolate",
    operation_id="interpolate",
    summary="Walk from one image or code to another (JSON frames, a GIF or a PNG strip)",
    response_model=responses.InterpolateResponse,
    responses=binary(responses.InterpolateResponse, PNG, GIF) | errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(LatentOperations.interpolate, examples.INTERPOLATE),
)
async def interpolate(model: ModelName, request: Request) -> Any:
    call = model_call(request, model)
    return reply(await call.operations.latent.interpolate(call.model, await call.body()))
