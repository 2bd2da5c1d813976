"""The OpenAPI document: FastAPI's, plus the request models that `service.bodies` parses itself
(FastAPI only lists the bodies it parses): `request_body` declares each as a JSON body whose
description says how to send the same fields as multipart/form-data, `openapi_builder` adds their
schemas. Operation ids are the routes' short names (`encode`, `list_models`), set on each route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.bodies import IMAGE_FIELDS, body_model_of
from service.schemas.fields import MAX_ITEMS_MARK

# The request bodies the routes declared (request_body), by name: the document's components.
_BODIES: dict[str, type[BaseModel]] = {}


def openapi_builder(app: FastAPI, max_items: int) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi` that builds the document once, with the request bodies the
    routes declared, and the limits this server enforces."""

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
            for model in _BODIES.values():
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


def request_body(operation: Callable[..., Any], examples: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` declaring the body `operation` parses (`service.bodies.parses`) as the JSON
    body, with examples; its description says how the same fields go as multipart/form-data,
    which `service.bodies` also parses.

    One media type only: a body declared under two (JSON and multipart) is what client generators
    handle worst; openapi-python-client, for one, writes modules that fail to import."""
    model = body_model_of(operation)
    _BODIES[model.__name__] = model
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "description": _multipart_note(model),
            "content": {"application/json": {"schema": ref, "examples": examples}},
        }
    }


def _multipart_note(model: type[BaseModel]) -> str:
    """How each field of `model` travels in a multipart/form-data upload."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    files, json_text, plain = [], [], []
    for name, prop in schema["properties"].items():
        if name in IMAGE_FIELDS:
            files.append(name)
        elif _structured(prop):
            json_text.append(name)
        else:
            plain.append(name)
    parts = [f"{_names(files)} as image files, one part per image (repeat the field)"] * bool(files)
    parts += [f"{_names(json_text)} as JSON text"] * bool(json_text)
    parts += [f"{_names(plain)} as plain values"] * bool(plain)
    encoded = ", with images as base64 strings" * bool(files)
    return f"JSON{encoded}; or the same fields as multipart/form-data: {'; '.join(parts)}."


def _names(fields: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in fields)


def _structured(prop: dict[str, Any]) -> bool:
    """A list, an object or a model, or a union holding one: sent as JSON text in a form."""
    options = prop.get("anyOf", []) + prop.get("oneOf", [])
    return (
        prop.get("type") in ("array", "object") or "$ref" in prop or any(map(_structured, options))
    )
