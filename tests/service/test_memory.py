"""Memory under the largest requests, on a real server process: resident memory (summed over its
processes), sampled while four maximum-size requests run at once on the largest bundle, and after.
The assertions are about memory, never about time."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from liveserver.memory import PEAK_GROWTH_MB, RETURNED_WITHIN_MB, memory_under_largest_requests
from tests.conftest import serve
from vae_core.bundle import read_manifest

pytestmark = pytest.mark.e2e


def largest_bundle(model_dir: Path) -> str:
    """The bundle with the largest images (the most memory per row)."""
    bundles = [path for path in model_dir.iterdir() if (path / "model.json").is_file()]
    return max(bundles, key=lambda path: np.prod(read_manifest(path).image_shape)).name


def test_four_maximum_requests_at_once_stay_bounded_and_memory_returns(
    model_dir: Path, tmp_path: Path
) -> None:
    """Four decodes of 256 codes, then four reconstructs of 256 images, at once: RSS grows by
    less than 200 MB at its peak and comes back to within 50 MB of where it started."""
    name = largest_bundle(model_dir)
    models = tmp_path / "models"
    shutil.copytree(model_dir / name, models / name)
    with serve(models, tmp_path) as server:
        use = memory_under_largest_requests(server, name)
    assert use.peak - use.start < PEAK_GROWTH_MB, use
    assert use.settled - use.start <= RETURNED_WITHIN_MB, use
