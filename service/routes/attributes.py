"""Attribute vectors: the bundle's built-in ones and custom ones made from example images."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from service import examples
from service.dependencies import AttributeName, CustomAttributeName, ModelName, model_call
from service.openapi import request_body
from service.operations.attributes import AttributeOperations
from service.routes.common import BODY, IMAGES, MODEL, errors
from service.schemas.responses import AttributeInfo, AttributeList

router = APIRouter(prefix="/v1", tags=["attributes"])


@router.get(
    "/models/{model}/attributes",
    operation_id="list_attributes",
    summary="The model's attribute vectors, built-in and custom",
    responses=errors(*MODEL),
)
async def list_attributes(model: ModelName, request: Request) -> AttributeList:
    call = model_call(request, model)
    return await call.operations.attributes.list(call.model)


@router.get(
    # `:path`: built-in names may hold a slash (Fashion-MNIST's "T-shirt/top").
    "/models/{model}/attributes/{name:path}",
    operation_id="get_attribute",
    summary="One attribute vector",
    responses=errors(*MODEL),
)
async def get_attribute(name: AttributeName, model: ModelName, request: Request) -> AttributeInfo:
    call = model_call(request, model)
    return await call.operations.attributes.get(call.model, name)


@router.put(
    "/models/{model}/attributes/{name}",
    operation_id="put_attribute",
    summary="Create or replace a custom attribute vector from example images",
    description="The vector is the mean z_mean of the positive examples minus that of the "
    "negative ones, as in training. Needs at least 3 of each. 201 when new, 200 when replaced.",
    responses=errors(*MODEL, *BODY, IMAGES, 409)
    | {201: {"model": AttributeInfo, "description": "Created."}},
    openapi_extra=request_body(AttributeOperations.put, examples.CUSTOM_ATTRIBUTE_BODY),
)
async def put_attribute(
    name: CustomAttributeName, model: ModelName, request: Request, response: Response
) -> AttributeInfo:
    call = model_call(request, model)
    info, created = await call.operations.attributes.put(call.model, await call.body(), name)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return info


@router.delete(
    "/models/{model}/attributes/{name}",
    operation_id="delete_attribute",
    summary="Delete a custom attribute vector",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(*MODEL, 409, 422),
)
async def delete_attribute(name: CustomAttributeName, model: ModelName, request: Request) -> None:
    call = model_call(request, model)
    await call.operations.attributes.delete(call.model, name)
