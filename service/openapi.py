"""The OpenAPI document: FastAPI's, plus the request models that `service.bodies` parses itself
(FastAPI only lists the bodies it parses), so both encodings of each body are documented."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.schemas import MAX_ITEMS_MARK


def openapi_builder(
    app: FastAPI, request_models: Sequence[type[BaseModel]], max_items: int
) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi` that builds the document once, with `request_models`, and
    the limits this server enforces."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in request_models:
                components.update(_component_schemas(model))
            app.openapi_schema = _with_limits(schema, max_items)
        return app.openapi_schema

    return build


def _with_limits(node: Any, max_items: int) -> Any:
    """Replace each `x-max-items` mark with the keyword it names, set to the server's limit."""
    if isinstance(node, list):
        return [_with_limits(item, max_items) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _with_limits(value, max_items) for key, value in node.items()}
    keyword = result.pop(MAX_ITEMS_MARK, None)
    if keyword is not None:
        result[keyword] = min(result.get(keyword, max_items), max_items)
    return result


def _component_schemas(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), model.__name__: schema}
