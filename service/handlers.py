"""Exception handlers: every error leaves as `{"error": {"code", "message", "detail"}}` (under
/v2, the Open Inference Protocol's `{"error": "message"}`).

`ServiceError` carries its own status and code; the core's errors (which know no HTTP) are mapped
by `CORE_ERRORS`; FastAPI's validation errors and Starlette's 404/405 are mapped onto the same
shape; anything else is a bug, logged with its traceback and answered with a generic 500 that
reveals no stack or path."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from service.errors import InvalidInput, ModelUnavailable, ServiceError, error_body
from service.middleware import ERROR_CODE_STATE
from vae_core.errors import BundleInvalid, CoreError, location

logger = logging.getLogger("vae_serve.errors")
ExceptionHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
# The service error each core error is answered as; a core error not listed here is a bug (500).
CORE_ERRORS: dict[type[CoreError], type[ServiceError]] = {BundleInvalid: ModelUnavailable}


def error_response(
    request: Request, status: int, code: str, message: str, detail: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    setattr(request.state, ERROR_CODE_STATE, code)
    body = error_body(code, message, detail, path=request.url.path)
    return JSONResponse(body, status_code=status, headers=headers)


async def service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(
        request, exc.status_code, exc.code, exc.message, exc.detail, headers=exc.headers
    )


async def core_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CoreError)
    mapped = next((CORE_ERRORS[kind] for kind in type(exc).__mro__ if kind in CORE_ERRORS), None)
    if mapped is None:
        return await unexpected_error(request, exc)
    return await service_error(request, mapped(exc.message))


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    message = f"invalid request: {location(first['loc'], empty='')}: {first['msg']}"
    return error_response(request, 422, InvalidInput.code, message, detail)


def http_error(routes: Sequence[BaseRoute]) -> ExceptionHandler:
    """Starlette's 404 and 405; a 405 lists in `Allow` every method some route offers at the path
    (Starlette names only the methods of the first route that matched the path)."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            matching = (r for r in routes if r.matches(request.scope)[0] != Match.NONE)
            headers["Allow"] = ", ".join(sorted({m for r in matching for m in _methods(r)}))
        return error_response(request, exc.status_code, code, message, headers=headers)

    return handle


def _methods(route: BaseRoute) -> set[str]:
    return set(getattr(route, "methods", None) or ())


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path,
                 exc_info=exc)  # fmt: skip
    return error_response(request, 500, "internal_error", "internal server error")


def install_handlers(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Map every exception to the error body; `routes` are the API's, to answer 405s."""
    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(CoreError, core_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error(routes))
    app.add_exception_handler(Exception, unexpected_error)
