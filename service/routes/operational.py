"""Liveness, readiness and metrics: open to all, never behind the API key."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.dependencies import ContextDep
from service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from service.schemas.responses import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz", summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: every valid bundle loaded and warmed, and at least one; not shutting down",
    responses={
        503: {
            "model": Readiness,
            "description": "Not ready yet, no model serves, or draining before shutdown.",
        }
    },
)
async def readyz(context: ContextDep, response: Response) -> Readiness:
    readiness = context.operations.models.readiness(draining=context.drain.active)
    response.status_code = status.HTTP_200_OK if readiness.ready else 503
    return readiness


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(context: ContextDep) -> Response:
    return Response(context.metrics.render(), media_type=METRICS_CONTENT_TYPE)
