"""Adding a latent map to an existing bundle (`python -m training map`): from the real test set,
through the bundle's own ONNX encoder, deterministic, and touching nothing else in the bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MODELS_DIR
from training.cli import main
from training.datasets.splits import DatasetSplits
from training.errors import TrainingError
from training.map_export import add_latent_map, remove_latent_map
from training.quality import encode_pixels
from vae_core import bundle
from vae_core.graphs import load_autoencoder
from vae_core.latent_map import LATENT_MAP, LATENT_MAP_SPRITE

pytestmark = pytest.mark.slow

POINTS = 300


@pytest.fixture
def bare_copy(tmp_path: Path) -> Path:
    """fashion-vae-32d without its map, as a bundle made before maps existed."""
    copy = tmp_path / "fashion-vae-32d"
    shutil.copytree(MODELS_DIR / "fashion-vae-32d", copy)
    remove_latent_map(copy)
    return copy


def manifest_json(folder: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((folder / bundle.MANIFEST).read_text())
    return document


def test_the_map_command_adds_a_map_of_the_test_set_and_changes_nothing_else(
    bare_copy: Path, fashion_dir: Path, fashion: DatasetSplits
) -> None:
    before = manifest_json(bare_copy)
    assert before["latent_map"] is None and LATENT_MAP not in before["files"]  # type: ignore[operator]
    code = main(["map", str(bare_copy), "--data-dir", str(fashion_dir), "--points", str(POINTS)])
    assert code == 0
    after = manifest_json(bare_copy)
    assert after["latent_map"] == {"points": POINTS, "projection": "pca", "split": "test"}
    assert after["files"] == bundle.checksums(bare_copy)
    unchanged = {k: v for k, v in after.items() if k not in ("files", "latent_map")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("files", "latent_map")}
    model = load_autoencoder(bare_copy)
    assert model.latent_map is not None
    held_out = fashion.test.subset(slice(0, POINTS))
    z = encode_pixels(model, held_out.pixels)
    np.testing.assert_allclose(model.latent_map.codes, z, rtol=2e-3, atol=2e-3)  # float16
    assert [labels[0] for labels in model.latent_map.labels.values] == held_out.labels.tolist()
    assert sorted(p.name for p in bare_copy.parent.iterdir()) == [bare_copy.name]  # no staging


def test_the_map_is_deterministic_and_replaces_a_broken_one(
    bare_copy: Path, fashion: DatasetSplits, tmp_path: Path
) -> None:
    add_latent_map(bare_copy, fashion, POINTS)
    first = {name: (bare_copy / name).read_bytes() for name in (LATENT_MAP, LATENT_MAP_SPRITE)}
    (bare_copy / LATENT_MAP).write_text("broken")
    add_latent_map(bare_copy, fashion, POINTS)
    again = {name: (bare_copy / name).read_bytes() for name in (LATENT_MAP, LATENT_MAP_SPRITE)}
    assert again == first
    bundle.read_bundle(bare_copy)


@pytest.mark.evaluation
def test_the_shipped_fashion_map_is_what_the_command_writes(
    bare_copy: Path, fashion: DatasetSplits
) -> None:
    """Equal up to float16 rounding: another CPU's kernels may change an encoder's last bits."""
    add_latent_map(bare_copy, fashion)
    made = bundle.read_bundle(bare_copy).latent_map
    shipped = bundle.read_bundle(MODELS_DIR / "fashion-vae-32d").latent_map
    assert made is not None and shipped is not None
    np.testing.assert_allclose(made.codes, shipped.codes, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(made.positions, shipped.positions, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(
        made.projection.components, shipped.projection.components, rtol=1e-2, atol=1e-2
    )
    assert made.labels == shipped.labels and made.layout == shipped.layout
    assert made.sprite == shipped.sprite


def test_a_map_from_another_dataset_is_refused(tmp_path: Path, fashion: DatasetSplits) -> None:
    copy = tmp_path / "faces"
    shutil.copytree(MODELS_DIR / "faces-vae-200d", copy)
    with pytest.raises(TrainingError, match="trained on celeba"):
        add_latent_map(copy, fashion)


@pytest.mark.parametrize("points", [0, 5001])
def test_the_point_count_is_bounded(bare_copy: Path, fashion: DatasetSplits, points: int) -> None:
    with pytest.raises(TrainingError, match="1 to 5000 points"):
        add_latent_map(bare_copy, fashion, points)
