"""Administration: reload the model directory without a restart."""

from __future__ import annotations

from fastapi import APIRouter

from service.dependencies import ContextDep
from service.routes.common import errors
from service.schemas.responses import ReloadResponse

router = APIRouter(prefix="/v1", tags=["admin"])


@router.post(
    "/admin/reload",
    operation_id="reload",
    summary="Rescan the model directory: load new and changed bundles, drop removed ones",
    description="A changed bundle is validated and warmed before it replaces the old version; "
    "if it is invalid, the old version keeps serving and the reason is reported.",
    responses=errors(),
)
async def reload(context: ContextDep) -> ReloadResponse:
    return await context.operations.models.reload()
