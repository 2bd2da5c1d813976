"""The dependency rule of docs/architecture.md is enforced: `lint-imports` (run by `make lint`)
keeps every contract on the tree as it is, and breaks the right one, by name, when a copy of the
tree imports across the rule (and exits non-zero, which fails `make lint`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

PACKAGES = (
    "vae_core", "service", "training", "vae_client", "vae_serve", "liveserver", "bench", "scripts",
    "tests",
)  # fmt: skip
HALVES = "training and service never import each other"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def tree_copy(destination: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", destination)
    return destination


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Its report, one line per contract (wide enough that no contract's line wraps)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree, capture_output=True, text=True, timeout=300, env=os.environ | {"COLUMNS": "300"},
    )  # fmt: skip


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(tree_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        ("training/cli.py", "import service.runtime", HALVES),
        ("service/app.py", "import training.models", HALVES),
        ("vae_core/latent.py", "import torch", "the core sits under both halves"),
        ("vae_core/bundle.py", "import service.errors", "the core sits under both halves"),
        ("service/imaging.py", "import torch", "serving never imports torch"),
        ("service/schemas/fields.py", "import service.runtime", "wire types are leaves"),
        ("service/runtime.py", "import service.routes", "the service's layers"),
        ("tests/service/test_api.py", "import bench.harness", "the tests never import the bench"),
        ("liveserver/server.py", "import service.config", "the live server sits under"),
    ],
)  # fmt: skip
def test_an_import_across_the_rule_breaks_its_contract(
    tmp_path: Path, module: str, statement: str, contract: str
) -> None:
    tree = tree_copy(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{statement}  # across the rule\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    # Others may break too: through the core or training, the service would import torch.
    assert any(line.startswith(contract) for line in broken), result.stdout
