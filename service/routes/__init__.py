"""The HTTP routes, one module per resource, assembled here: `operational` (health, readiness,
metrics) and `studio` (the Latent Studio page at `/`), always open; and the `/v1` resources
`models`, `latent`, `attributes`, `maps` and `admin` (behind the API key when one is set). Each
route is a few lines: it names its inputs, awaits one method of `service.operations` and shapes the
reply."""

from __future__ import annotations

from fastapi import APIRouter

from service.routes import admin, attributes, latent, maps, models, operational, studio

OPEN: tuple[APIRouter, ...] = (operational.router, studio.router)
V1: tuple[APIRouter, ...] = (
    models.router,
    latent.router,
    attributes.router,
    maps.router,
    admin.router,
)
