"""The Open Inference Protocol (V2), beside /v1, so KServe and Triton clients (tritonclient) can
call each bundle's graphs: `<bundle>.encoder` (image -> z_mean, z_log_var) and `<bundle>.decoder`
(z -> image), FP32, JSON or binary tensor data. Health is open like /healthz; the rest is behind
the API key when one is set. Errors are V2's `{"error": "message"}` (service.handlers).

Not in the OpenAPI document: the protocol has its own specification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from service.dependencies import ContextDep
from service.operations.v2 import V2Model, v2_model
from service.schemas.v2 import (
    HEADER_LENGTH,
    Liveness,
    ModelMetadata,
    ModelReadiness,
    ServerMetadata,
    ServerReadiness,
)

OPEN = APIRouter(prefix="/v2", include_in_schema=False)
router = APIRouter(prefix="/v2", include_in_schema=False)
# The protocol answers "not ready" with a 4xx.
NOT_READY = status.HTTP_400_BAD_REQUEST


async def get_v2_model(
    model: Annotated[str, Path(description="<bundle>.encoder or <bundle>.decoder")],
    context: ContextDep,
) -> V2Model:
    return v2_model(context.registry, model)


V2ModelDep = Annotated[V2Model, Depends(get_v2_model)]


@OPEN.get("/health/live", operation_id="v2_server_live")
async def server_live() -> Liveness:
    return Liveness(live=True)


@OPEN.get("/health/ready", operation_id="v2_server_ready")
async def server_ready(context: ContextDep, response: Response) -> ServerReadiness:
    ready = context.registry.ready and not context.drain.active
    response.status_code = status.HTTP_200_OK if ready else NOT_READY
    return ServerReadiness(ready=ready)


@router.get("", operation_id="v2_server_metadata")
async def server_metadata(context: ContextDep) -> ServerMetadata:
    return context.operations.inference.server_metadata()


@router.get("/models/{model}", operation_id="v2_model_metadata")
async def model_metadata(target: V2ModelDep) -> ModelMetadata:
    return target.metadata()


@router.get("/models/{model}/ready", operation_id="v2_model_ready")
async def model_ready(model: str, context: ContextDep, response: Response) -> ModelReadiness:
    ready = context.operations.inference.model_ready(model)
    response.status_code = status.HTTP_200_OK if ready else NOT_READY
    return ModelReadiness(name=model, ready=ready)


@router.post("/models/{model}/infer", operation_id="v2_infer")
async def infer(target: V2ModelDep, request: Request, context: ContextDep) -> Response:
    reply = await context.operations.inference.infer(
        target, await request.body(), request.headers.get(HEADER_LENGTH)
    )
    return Response(reply.header + reply.binary, media_type=reply.media_type, headers=reply.headers)
