"""The models being served and their metadata."""

from __future__ import annotations

from fastapi import APIRouter

from service.dependencies import ContextDep, LoadedDep
from service.routes.common import MODEL, errors
from service.schemas.responses import ModelDetail, ModelList

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", operation_id="list_models", summary="List the models", responses=errors())
async def list_models(context: ContextDep) -> ModelList:
    return await context.operations.models.list()


@router.get(
    "/models/{model}",
    operation_id="describe_model",
    summary="A model's metadata",
    responses=errors(*MODEL),
)
async def describe_model(entry: LoadedDep, context: ContextDep) -> ModelDetail:
    return await context.operations.models.describe(entry)
