"""FastAPI dependencies: the app context (settings, registry, pool, operations), a call to the
model named in the path, the API key check. Routes declare these through the `Annotated` aliases
below.

One resolution step per route: FastAPI solves each dependency (and each of its own) on the event
loop for every request, so a model's route takes its path parameters and the request, and makes
its `ModelCall` with one plain function; the others take one dependency (`ContextDep`). Every
dependency is `async def` and does no blocking work: FastAPI runs a plain `def` dependency in a
thread pool, one thread hop per dependency per request."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader

from service import examples
from service.bodies import RawBody, read_body
from service.config import Settings
from service.errors import Unauthorized
from service.metrics import Metrics
from service.operations.anomaly import AnomalyOperations
from service.operations.attributes import AttributeOperations
from service.operations.latent import LatentOperations
from service.operations.maps import MapOperations
from service.operations.models import ModelOperations
from service.operations.v2 import InferenceOperations
from service.registry import Loaded, ModelRegistry
from service.runtime import InferencePool
from service.schemas.fields import CUSTOM_NAME_PATTERN
from service.shutdown import Drain
from vae_core.graphs import OnnxAutoencoder


@dataclass(frozen=True)
class Operations:
    """What the routes call, one object per concern (service/operations/)."""

    models: ModelOperations
    latent: LatentOperations
    attributes: AttributeOperations
    maps: MapOperations
    anomaly: AnomalyOperations
    inference: InferenceOperations  # the Open Inference Protocol (V2)


@dataclass(frozen=True)
class AppContext:
    """Everything a request may use; built by `create_app`, stored on `app.state.context`."""

    settings: Settings
    registry: ModelRegistry
    pool: InferencePool
    metrics: Metrics
    drain: Drain  # set on SIGTERM: not ready, connections closed after each response
    operations: Operations


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


ModelName = Annotated[
    str,
    Path(
        description="The model's name: its bundle's folder in the model directory.",
        openapi_examples=examples.MODEL_PARAMETER,
    ),
]


@dataclass(frozen=True)
class ModelCall:
    """A request to one serving model: 404 if unknown, 503 if its bundle is broken."""

    context: AppContext
    model: OnnxAutoencoder
    request: Request

    @property
    def operations(self) -> Operations:
        return self.context.operations

    async def body(self) -> RawBody:
        """The request's body, received but not parsed (the operations parse it in the pool)."""
        settings = self.context.settings
        return await read_body(self.request, settings.max_items, settings.max_body_bytes)

    @property
    def wants_png(self) -> bool:
        """True when the client asks for image/png rather than JSON."""
        accept = self.request.headers.get("accept", "")
        return "image/png" in accept and "application/json" not in accept


def model_call(request: Request, model: str) -> ModelCall:
    """The call to `model` that `request` makes: a plain function, not a dependency, so that a
    model's route costs FastAPI no dependency to solve (its `model` is a path parameter)."""
    context: AppContext = request.app.state.context
    return ModelCall(context, context.registry.get(model), request)


async def get_loaded(model: ModelName, request: Request) -> Loaded:
    context: AppContext = request.app.state.context
    return context.registry.entry(model)


LoadedDep = Annotated[Loaded, Depends(get_loaded)]

AttributeName = Annotated[
    str,
    Path(
        description="A built-in or custom attribute's name.",
        min_length=1,
        max_length=200,
        openapi_examples=examples.ATTRIBUTE_PARAMETER,
    ),
]
CustomAttributeName = Annotated[
    str,
    Path(
        description="A custom attribute's name: ASCII letters, digits, space, _ . -, at most 64.",
        pattern=CUSTOM_NAME_PATTERN,
        openapi_examples=examples.CUSTOM_ATTRIBUTE_PARAMETER,
    ),
]

_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Needed on every /v1 call when the server sets VAE_SERVE_API_KEY.",
)


async def require_api_key(
    context: ContextDep,
    request: Request,
    api_key: Annotated[str | None, Security(_api_key_header)],
) -> None:
    """401 unless the request carries the key, in `X-API-Key` or `Authorization: Bearer`."""
    expected = context.settings.api_key
    if expected is None:
        return
    offered = api_key or _bearer(request.headers.get("authorization", ""))
    # Constant-time comparison: response timing must not reveal how much of a guess was right.
    if offered is None or not hmac.compare_digest(
        offered.encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized(
            "missing or wrong API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
        )


def _bearer(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
