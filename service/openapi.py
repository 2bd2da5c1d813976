"""The OpenAPI document: FastAPI's, plus the request models that `service.bodies` parses itself
(FastAPI only lists the bodies it parses), so both encodings of each body are documented:
`request_body` declares them on each route, `openapi_builder` adds their schemas."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.bodies import IMAGE_FIELDS
from service.schemas.fields import MAX_ITEMS_MARK


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


def request_body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as a JSON or a multipart body, with JSON examples."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": ref, "examples": examples},
                "multipart/form-data": _multipart(model),
            },
        }
    }


def _multipart(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    properties: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if name in IMAGE_FIELDS:
            properties[name] = _files(prop)
        elif _structured(prop):
            properties[name] = _json_text(prop)
        else:
            properties[name] = prop
    multipart: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": schema.get("required", []),
        "additionalProperties": False,
    }
    return {"schema": multipart}


def _files(prop: dict[str, Any]) -> dict[str, Any]:
    """An image list's schema as file parts, with its limits on the count."""
    array = next(o for o in prop.get("anyOf", [prop]) if o.get("type") == "array")
    limits = {k: v for k, v in array.items() if k in ("minItems", "maxItems", MAX_ITEMS_MARK)}
    files = {"type": "string", "format": "binary"}
    return {"type": "array", "items": files, "description": "Image files."} | limits


def _json_text(prop: dict[str, Any]) -> dict[str, Any]:
    """A list or object field: one form field holding its JSON text."""
    return {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": prop,
        "description": f"JSON text. {prop.get('description', '')}".strip(),
    }


def _structured(prop: dict[str, Any]) -> bool:
    """Whether a value of this schema may be a list or an object (then it travels as JSON text),
    looking through unions: `z` is lists or packed codes, or null."""
    options = prop.get("anyOf") or prop.get("oneOf")
    if options is not None:
        return any(_structured(option) for option in options)
    return prop.get("type") in ("array", "object") or "$ref" in prop
