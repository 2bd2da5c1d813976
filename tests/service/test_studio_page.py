"""The Studio's files as the service serves them (no browser): the page at / with its security
headers, its ES modules and stylesheet from /studio/, nothing else from there, and all of them
in the wheel."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.routes.studio import STATIC
from tests.conftest import ROOT
from tests.service.helpers import assert_error

pytestmark = pytest.mark.unit

IMPORT = re.compile(r"""^import .* from "([^"]+)";$""", re.MULTILINE)
URL = re.compile(r"""https?://[^\s"'`]+""")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a name, never fetched


def test_the_page_is_served_at_the_root_with_a_strict_content_security_policy(
    client: TestClient,
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy and "'unsafe" not in policy
    assert 'data-api-key="optional"' in response.text
    assert re.search(r"""(src|href)="(https?:)?//""", response.text) is None  # nothing external


def test_the_page_says_when_the_server_wants_an_api_key(model_dir: Path) -> None:
    settings = Settings(model_dir=model_dir, api_key="a-long-enough-key")
    with TestClient(create_app(settings)) as locked:
        page = locked.get("/")
        assert page.status_code == 200  # the page is open, like /docs
        assert 'data-api-key="required"' in page.text
        assert locked.get("/studio/main.js").status_code == 200
        assert locked.get("/v1/models").status_code == 401


def test_every_module_and_stylesheet_is_served_with_its_type(client: TestClient) -> None:
    files = sorted(path.name for path in STATIC.iterdir() if path.suffix in (".js", ".css"))
    assert "main.js" in files and "studio.css" in files
    for name in files:
        response = client.get(f"/studio/{name}")
        assert response.status_code == 200, name
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        assert response.headers["content-type"].startswith(kind), name
        assert response.headers["x-content-type-options"] == "nosniff"


def test_every_module_imported_exists() -> None:
    """The import graph from main.js, read statically: a wrong path fails here, not in a browser."""
    seen, todo = set(), ["main.js"]
    while todo:
        name = todo.pop()
        seen.add(name)
        text = (STATIC / name).read_text()
        assert set(URL.findall(text)) <= {SVG_NAMESPACE}, name  # no CDN, nothing external
        for path in IMPORT.findall(text):
            imported = path.removeprefix("./")
            assert path.startswith("./") and (STATIC / imported).is_file(), f"{name}: {path}"
            if imported not in seen:
                todo.append(imported)
    modules = {path.name for path in STATIC.glob("*.js")}
    assert seen == modules, f"not imported by the page: {sorted(modules - seen)}"


@pytest.mark.parametrize(
    "path", ["/studio/index.html", "/studio/missing.js", "/studio/..%2Fapp.py", "/studio/Main.js"]
)
def test_nothing_else_is_served_from_the_studio_folder(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


def test_the_studio_files_ship_in_the_wheel() -> None:
    """pyproject's package-data covers every file of service/studio (the container installs the
    wheel: a file it misses is missing there)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["service"]
    for path in STATIC.iterdir():
        relative = path.relative_to(ROOT / "service").as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative
