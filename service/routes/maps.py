"""The latent map: held-out images' codes laid out on a plane (a 2-d latent as it is, a larger one
by PCA), their thumbnails, and any image or code placed on it with its nearest neighbours."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service import examples
from service.dependencies import ModelName, model_call
from service.openapi import request_body
from service.operations.maps import MapOperations
from service.routes.common import BODY, IMAGES, MODEL, WEBP, errors
from service.schemas.responses import LatentMapResponse, ProjectResponse

router = APIRouter(prefix="/v1", tags=["latent map"])


@router.get(
    "/models/{model}/map",
    operation_id="get_map",
    summary="The latent map: held-out points' positions and labels, and the projection",
    description="Up to 5,000 held-out images' codes, placed on a plane: the latent plane of a "
    "2-d model, the two leading principal components of the codes otherwise. 404 "
    "`map_not_found` for a bundle without a map (it is optional).",
    responses=errors(*MODEL),
)
async def get_map(model: ModelName, request: Request) -> LatentMapResponse:
    call = model_call(request, model)
    return await call.operations.maps.get(call.model)


@router.get(
    "/models/{model}/map/sprite",
    operation_id="get_map_sprite",
    summary="The map's thumbnails: one WebP image, a grid cell per point, row-major",
    response_class=Response,
    responses=errors(*MODEL) | {200: {"content": WEBP, "description": "The sprite."}},
)
async def get_map_sprite(model: ModelName, request: Request) -> Response:
    call = model_call(request, model)
    sprite = await call.operations.maps.sprite(call.model)
    return Response(sprite.content, media_type=sprite.media_type)


@router.post(
    "/models/{model}/project",
    operation_id="project",
    summary="Images or codes -> map positions and the nearest held-out points",
    description="Places each input on the map, as the map's own points were placed, and lists "
    "the map points nearest to it in code space.",
    responses=errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(MapOperations.project, examples.PROJECT),
)
async def project(model: ModelName, request: Request) -> ProjectResponse:
    call = model_call(request, model)
    return await call.operations.maps.project(call.model, await call.body())
