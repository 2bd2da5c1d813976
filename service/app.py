"""Build the FastAPI app from settings. Nothing runs at import: models load in the lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from service import __version__, routes
from service.config import Settings
from service.dependencies import AppContext, Operations, require_api_key
from service.handlers import install_handlers
from service.http_guard import ADMISSION_STATE
from service.imaging import ImageLimits
from service.metrics import Metrics
from service.middleware import REQUEST_ID_HEADER, BodyLimit, RequestObserver
from service.openapi import openapi_builder
from service.operations.anomaly import AnomalyOperations
from service.operations.attributes import AttributeOperations
from service.operations.latent import LatentOperations
from service.operations.maps import MapOperations
from service.operations.models import ModelOperations
from service.operations.v2 import InferenceOperations
from service.precision import PrecisionPolicy
from service.registry import Loaded, ModelRegistry
from service.runtime import BatchingOptions, InferencePool, RuntimeOptions
from service.schemas.v2 import GRAPHS as V2_GRAPHS
from service.shutdown import Drain, drain_on_sigterm
from service.vector_store import AttributeStore
from vae_core.precision import cpu_features

logger = logging.getLogger("vae_serve")

DESCRIPTION = """Encode, decode, sample, edit and interpolate in the latent space of autoencoders
and VAEs trained on Fashion-MNIST (and more), served from ONNX bundles.

Images travel as base64 PNG or JPEG strings in JSON, or as `images` file parts in
multipart/form-data. Errors are always `{"error": {"code", "message", "detail"}}`.
"""
TAGS = [
    {"name": "latent space", "description": "Encode, decode, sample, edit, interpolate."},
    {"name": "attributes", "description": "Attribute vectors, built-in and custom."},
    {"name": "latent map", "description": "Held-out codes on a plane; place any image or code."},
    {"name": "anomaly", "description": "Anomaly scores, p-values and verdicts; the calibration."},
    {"name": "models", "description": "The models served and their metadata."},
    {"name": "admin", "description": "Reload bundles without a restart."},
    {"name": "operations", "description": "Health, readiness, metrics."},
]


def create_app(settings: Settings) -> FastAPI:
    context = _context(settings)
    app = FastAPIOffline(
        title="vae-serve",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=_lifespan(context),
        swagger_ui_parameters={"displayRequestDuration": True},
        # Our metrics are Prometheus (service.metrics): FastAPI's OpenTelemetry hooks would only
        # ask, on every request, whether a provider was configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.context = context
    auth = [Depends(require_api_key)] if settings.api_key is not None else []
    for router in routes.OPEN:
        app.include_router(router)
    for router in routes.PROTECTED:
        app.include_router(router, dependencies=auth)
    app.openapi = openapi_builder(app, settings.max_items)  # type: ignore[method-assign]
    install_handlers(
        app, routes=[r for router in routes.OPEN + routes.PROTECTED for r in router.routes]
    )
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_s
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key", "Authorization", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER],
        )
    app.add_middleware(
        RequestObserver,
        metrics=context.metrics,
        known_model=partial(_known, context.registry),
        closing=lambda: context.drain.active,  # draining: clients reconnect elsewhere
    )
    return app


def _context(settings: Settings) -> AppContext:
    metrics = Metrics()
    batching = (
        BatchingOptions(settings.batch_max_size, settings.batch_max_wait_ms / 1000)
        if settings.batching
        else None
    )
    options = RuntimeOptions(
        settings.intra_op_threads,
        max_rows=settings.max_rows_per_run,
        observe=metrics.observe_inference,
        batching=batching,
    )
    precision = PrecisionPolicy(settings.precision, settings.model_precision, cpu_features())
    registry = ModelRegistry(settings.model_dir, partial(precision.load, options=options))
    metrics.track_models(partial(registry.count, True), partial(registry.count, False))
    metrics.track_precision(partial(_precisions, registry))
    attributes = AttributeStore(settings.data_dir)
    pool = InferencePool(
        settings.inference_concurrency,
        max_queue=settings.inference_queue,
        timeout=settings.inference_timeout_s,
        latency_budget=settings.latency_budget_s,
        on_refusal=metrics.count_refusal,
    )
    metrics.track_pool(lambda: pool.admitted, pool.capacity)
    limits = ImageLimits(settings.max_image_pixels, settings.max_request_pixels)
    operations = Operations(
        models=ModelOperations(registry, attributes, pool, precision),
        latent=LatentOperations(attributes, limits, pool, settings.max_items),
        attributes=AttributeOperations(attributes, limits, pool, settings.max_items),
        maps=MapOperations(limits, pool, settings.max_items),
        anomaly=AnomalyOperations(limits, pool, settings.max_items),
        inference=InferenceOperations(registry, pool, settings.max_items),
    )
    return AppContext(settings, registry, pool, metrics, Drain(), operations)


def _precisions(registry: ModelRegistry) -> list[tuple[str, str]]:
    return [(e.model.name, e.model.precision) for e in registry.entries() if isinstance(e, Loaded)]


def _known(registry: ModelRegistry, name: str) -> bool:
    """A model name worth a metrics label: a bundle's, or one of its V2 graphs' (bounded too)."""
    bundle, _, graph = name.rpartition(".")
    return registry.known(name) or (graph in V2_GRAPHS and registry.known(bundle))


def _lifespan(
    context: AppContext,
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, object]]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        start = time.perf_counter()
        results = await anyio.to_thread.run_sync(context.registry.load_all)
        serving = sum(r.outcome == "added" for r in results)
        logger.info(
            "ready: %d of %d bundles serving, loaded in %.2f s",
            serving, len(results), time.perf_counter() - start,
            extra={"model_dir": str(context.settings.model_dir)},
        )  # fmt: skip
        watch = context.registry.watch(context.settings.disk_check_interval_s)
        restore = drain_on_sigterm(context.drain, context.settings.drain_s)
        # The lifespan's state reaches the HTTP guard (uvicorn's app_state): it asks the pool
        # before a request's body is read.
        yield {ADMISSION_STATE: context.pool.refusal}
        if restore is not None:
            restore()
        watch.stop()
        context.pool.close()

    return lifespan
