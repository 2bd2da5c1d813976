"""Headless Debian Chromium for the browser tests, driven by Playwright: one browser per module,
and pages whose requests may reach 127.0.0.1 only (the others are recorded and aborted)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.conftest import require_tool

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
TIMEOUT_MS = 30_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium (never a downloaded one), closed at the end."""
    executable = require_tool("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def offline_page(browser: Browser, blocked: list[str], **options: Any) -> Page:
    """A page (`options` as for `new_page`) whose requests reach 127.0.0.1 only; the others are
    recorded in `blocked` and aborted."""
    page = browser.new_page(**options)
    page.set_default_timeout(TIMEOUT_MS)

    def guard(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.fallback()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return page
