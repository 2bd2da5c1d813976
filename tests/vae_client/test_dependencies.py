"""The client needs only httpx, numpy and pillow (and the standard library): what a user installs
to call a server. import-linter forbids the project's other packages; this test allows nothing else
from outside either."""

from __future__ import annotations

import sys

import grimp
import pytest

pytestmark = pytest.mark.unit

ALLOWED = {"httpx", "numpy", "PIL"}


def test_the_client_imports_only_httpx_numpy_and_pillow() -> None:
    graph = grimp.build_graph("vae_client", include_external_packages=True)
    imported = {
        target.split(".")[0]
        for module in graph.find_children("vae_client") | {"vae_client"}
        for target in graph.find_modules_directly_imported_by(module)
    }
    outside = imported - {"vae_client"} - set(sys.stdlib_module_names)
    assert outside == ALLOWED
