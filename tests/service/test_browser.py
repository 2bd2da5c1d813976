"""A real browser on the docs: headless Debian Chromium driven by Playwright, every request that
leaves 127.0.0.1 blocked. /docs renders every operation and "Try it out" gets a 200; /redoc
renders every operation too."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from liveserver.server import Server
from tests.service.chromium import chromium, offline_page
from tests.service.helpers import OPERATION_IDS

pytestmark = pytest.mark.e2e

# Redoc's footer ("API docs by Redocly") hard-codes this logo; blocked, the page is unaffected.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def operations(url: str) -> list[tuple[str, str, str]]:
    """(method, path, operationId) of every documented operation."""
    paths = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]
    return [(m, p, op["operationId"]) for p, ops in paths.items() for m, op in ops.items()]


def test_swagger_ui_renders_every_operation_and_try_it_out_succeeds(
    browser: Browser, live_server: Server
) -> None:
    blocked: list[str] = []
    page = offline_page(browser, blocked)
    page.goto(f"{live_server.url}/docs")
    page.wait_for_selector(".opblock")
    expected = operations(live_server.url)
    assert len(expected) == len(OPERATION_IDS)
    for method, path, _ in expected:
        block = page.locator(f'.opblock-{method}:has([data-path="{path}"])')
        assert block.count() == 1, f"{method.upper()} {path} is not rendered"
    sample = page.locator('.opblock-post:has([data-path="/v1/models/{model}/sample"])')
    sample.locator(".opblock-summary").click()
    sample.locator("button.try-out__btn").click()
    sample.locator("button.execute").click()
    status = sample.locator(".live-responses-table tr.response .response-col_status")
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert "iVBORw0KGgo" in sample.locator(".live-responses-table").inner_text()  # a PNG
    assert blocked == []  # the page needed nothing from outside
    page.close()


def test_redoc_renders_every_operation(browser: Browser, live_server: Server) -> None:
    blocked: list[str] = []
    page = offline_page(browser, blocked)
    page.goto(f"{live_server.url}/redoc")
    page.wait_for_selector("[data-section-id*='operation/']")
    for method, path, operation_id in operations(live_server.url):
        section = page.locator(f"[data-section-id$='operation/{operation_id}']")
        assert section.count() >= 1, f"{method.upper()} {path} is not rendered"
    assert set(blocked) <= {REDOC_LOGO}
    page.close()
