"""The HTTP routes, one module per resource, assembled here: `operational` (health, readiness,
metrics) and `studio` (the Latent Studio page at `/`), always open; the `/v1` resources `models`,
`latent`, `attributes`, `maps`, `anomaly` and `admin`; and the Open Inference Protocol under
`/v2` (`v2`: its health is open, the rest is behind the API key when one is set, like /v1). Each
route is a few lines: it names its inputs, awaits one method of `service.operations` and shapes
the reply."""

from __future__ import annotations

from fastapi import APIRouter

from service.routes import (
    admin,
    anomaly,
    attributes,
    latent,
    maps,
    models,
    operational,
    studio,
    v2,
)

OPEN: tuple[APIRouter, ...] = (operational.router, studio.router, v2.OPEN)
PROTECTED: tuple[APIRouter, ...] = (
    models.router, latent.router, attributes.router, maps.router, anomaly.router, admin.router,
    v2.router,
)  # fmt: skip
