"""The HTTP guard and graceful shutdown use uvicorn's private parts, all through
service/uvicorn_internals.py: this fails, naming what changed, when a uvicorn upgrade breaks
them."""

from __future__ import annotations

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service import uvicorn_internals

pytestmark = pytest.mark.unit


def test_uvicorn_still_has_what_the_guard_and_graceful_shutdown_use() -> None:
    found = uvicorn_internals.problems()
    assert not found, "\n".join(
        ["uvicorn changed what service/uvicorn_internals.py relies on:", *found]
    )


def test_a_callback_that_is_gone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(HttpToolsProtocol, "on_header")
    found = uvicorn_internals.problems()
    assert any("HttpToolsProtocol.on_header is gone" in problem for problem in found), found
    assert all(problem.startswith("uvicorn ") for problem in found)


def test_a_changed_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def send_400_response(self: HttpToolsProtocol) -> None: ...

    monkeypatch.setattr(HttpToolsProtocol, "send_400_response", send_400_response)
    found = uvicorn_internals.problems()
    assert any("send_400_response takes ['self']" in problem for problem in found), found


def test_an_attribute_that_is_gone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    original = HttpToolsProtocol.__init__

    def without_tasks(self: HttpToolsProtocol, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        del self.tasks

    monkeypatch.setattr(HttpToolsProtocol, "__init__", without_tasks)
    found = uvicorn_internals.problems()
    assert any("no attribute 'tasks'" in problem for problem in found), found
