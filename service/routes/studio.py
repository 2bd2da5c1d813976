"""The Latent Studio: the page at `/` and its static files (`service/studio/`: plain ES modules and
CSS, no build step, nothing fetched from elsewhere). Open like /docs; the page itself calls /v1
with the API key, which it asks the user for when the server has one."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from service.dependencies import ContextDep

STATIC = Path(__file__).resolve().parent.parent / "studio"
ASSET = r"^[a-z][a-z0-9-]*\.(js|css)$"  # a flat folder: no path to anywhere else
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# The page may load and call only this origin, run no inline script and be framed by no one.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
# index.html says whether the page must ask for the API key: this attribute, set per server.
API_KEY_OPTIONAL, API_KEY_REQUIRED = b'data-api-key="optional"', b'data-api-key="required"'

router = APIRouter(include_in_schema=False)


@router.get("/")
async def studio_page(context: ContextDep) -> HTMLResponse:
    page = await anyio.Path(STATIC / "index.html").read_bytes()
    if context.settings.api_key is not None:
        page = page.replace(API_KEY_OPTIONAL, API_KEY_REQUIRED)
    headers = HEADERS | {"Content-Security-Policy": CONTENT_SECURITY_POLICY}
    return HTMLResponse(page, headers=headers)


@router.get("/studio/{asset}")
async def studio_asset(asset: str) -> Response:
    path = anyio.Path(STATIC / asset)
    if not _is_asset(asset) or not await path.is_file():
        raise HTTPException(404)
    return Response(await path.read_bytes(), media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


def _is_asset(name: str) -> bool:
    return re.fullmatch(ASSET, name) is not None
