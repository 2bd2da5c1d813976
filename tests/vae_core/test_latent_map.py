"""The latent map's maths and file: the projection places codes as documented, nearest neighbours
are the true ones, the file round-trips, and a broken map is refused naming the file and why."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import MODELS_DIR
from vae_core import bundle
from vae_core.errors import BundleInvalid
from vae_core.latent_map import (
    LATENT_MAP,
    LATENT_MAP_SPRITE,
    MAX_COMPONENTS,
    MAX_POINTS,
    build_latent_map,
    fit_projection,
    read_latent_map,
    write_latent_map,
)

pytestmark = pytest.mark.unit

SHIPPED = MODELS_DIR / "fashion-vae-32d"


def codes(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """Codes with a clear principal direction: unequal spreads, then a random rotation."""
    rng = np.random.default_rng(seed)
    spread = np.linspace(3.0, 0.2, dim)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return ((rng.standard_normal((count, dim)) * spread) @ rotation.T + 1.5).astype(np.float32)


def labelled_map(z: np.ndarray, tmp_path: Path) -> Path:
    """A map of `z` written to a folder, with class labels and 28x28 thumbnails."""
    count = len(z)
    classes = np.arange(count) % 3
    has = classes[:, None] == np.arange(3)[None, :]
    pixels = (np.arange(count * 28 * 28) % 251).astype(np.uint8).reshape(count, 28, 28)
    record, sprite = build_latent_map(z, has, ["a", "b", "c"], "class", pixels, "test")
    write_latent_map(tmp_path, record, sprite)
    return tmp_path


def test_a_2d_latent_is_its_own_map() -> None:
    z = codes(100, 2)
    projection = fit_projection(z)
    assert projection.kind == "identity"
    np.testing.assert_array_equal(projection.place(z), z)


def test_a_larger_latent_is_placed_on_its_leading_principal_components() -> None:
    z = codes(500, 12)
    projection = fit_projection(z)
    assert projection.kind == "pca" and projection.components.shape == (MAX_COMPONENTS, 12)
    np.testing.assert_allclose(
        projection.components @ projection.components.T, np.eye(8), atol=1e-9
    )
    np.testing.assert_allclose(projection.mean, z.mean(axis=0), atol=1e-5)
    # The first component is the direction of largest variance: no unit vector beats it.
    variance = lambda v: float(np.var((z - z.mean(axis=0)) @ v))  # noqa: E731
    top = variance(projection.components[0])
    directions = np.random.default_rng(1).standard_normal((200, 12))
    assert all(variance(d / np.linalg.norm(d)) <= top + 1e-6 for d in directions)
    placed = projection.place(z)
    np.testing.assert_allclose(placed.std(axis=0), projection.scale[:2], rtol=1e-4)
    assert np.all(np.diff(projection.scale) <= 0)  # ordered by spread
    assert projection.explained_variance_ratio.sum() <= 1 + 1e-9


def test_stored_positions_are_the_stored_codes_placed(tmp_path: Path) -> None:
    latent_map = read_latent_map(labelled_map(codes(300, 6), tmp_path), 6)
    np.testing.assert_allclose(
        latent_map.positions, latent_map.place(latent_map.codes), rtol=1e-6, atol=1e-6
    )
    assert latent_map.labels.values[:4] == [[0], [1], [2], [0]]
    assert latent_map.count == 300 and latent_map.projection.kind == "pca"


def test_codes_are_stored_as_float16_of_the_encoder_output(tmp_path: Path) -> None:
    z = codes(50, 4)
    latent_map = read_latent_map(labelled_map(z, tmp_path), 4)
    np.testing.assert_array_equal(latent_map.codes, z.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("dim", [2, 9])
def test_nearest_neighbours_are_the_true_nearest_in_code_space(tmp_path: Path, dim: int) -> None:
    latent_map = read_latent_map(labelled_map(codes(400, dim), tmp_path), dim)
    queries = codes(20, dim, seed=5)
    indices, distances = latent_map.nearest(queries, 7)
    brute = np.linalg.norm(queries[:, None, :] - latent_map.codes[None, :, :], axis=2)
    for row, query in enumerate(brute):
        order = np.argsort(query, kind="stable")[:7]
        np.testing.assert_allclose(distances[row], query[order], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(query[indices[row]], query[order], rtol=1e-5, atol=1e-5)
    assert latent_map.nearest(queries[:1], 10_000)[0].shape == (1, 400)  # at most every point


def test_the_sprite_has_a_cell_per_point_with_its_thumbnail(tmp_path: Path) -> None:
    folder = labelled_map(codes(10, 2), tmp_path)
    latent_map = read_latent_map(folder, 2)
    sprite = Image.open(io.BytesIO(latent_map.sprite))
    layout = latent_map.layout
    assert sprite.format == "WEBP" and layout.columns == 4
    assert (layout.thumb_width, layout.thumb_height) == (28, 28)
    assert sprite.size == (4 * 28, 3 * 28)


def test_a_shipped_bundle_reads_with_its_map() -> None:
    read = bundle.read_bundle(SHIPPED)
    assert read.latent_map is not None and read.manifest.latent_map is not None
    assert read.latent_map.info() == read.manifest.latent_map
    assert {LATENT_MAP, LATENT_MAP_SPRITE} <= set(read.manifest.files)
    assert read.latent_map.count == min(MAX_POINTS, read.manifest.dataset.test_size)


def without_map(folder: Path) -> None:
    manifest = json.loads((folder / bundle.MANIFEST).read_text())
    manifest["latent_map"] = None
    for name in (LATENT_MAP, LATENT_MAP_SPRITE):
        del manifest["files"][name]
        (folder / name).unlink()
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest))


def test_a_bundle_without_a_map_still_reads(tmp_path: Path) -> None:
    copy = tmp_path / "no-map"
    shutil.copytree(SHIPPED, copy)
    without_map(copy)
    read = bundle.read_bundle(copy)
    assert read.latent_map is None and read.manifest.latent_map is None


def rewrite_map(folder: Path, change: dict[str, object]) -> None:
    """Change latent_map.json's fields and re-record its checksum: damage only the content."""
    record = json.loads((folder / LATENT_MAP).read_text())
    record.update(change)
    (folder / LATENT_MAP).write_text(json.dumps(record))
    manifest = json.loads((folder / bundle.MANIFEST).read_text())
    manifest["files"] = bundle.checksums(folder)
    (folder / bundle.MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda d: (d / LATENT_MAP_SPRITE).unlink(), "latent_map.webp: missing"),
        (lambda d: (d / LATENT_MAP).write_text("{}"), "latent_map.json: sha256"),
        (lambda d: rewrite_map(d, {"latent_dim": 3}), "codes have 32 dimensions, the model"),
        (lambda d: rewrite_map(d, {"code_std": [1.0]}), "one value per dimension"),
        (
            lambda d: rewrite_map(d, {"labels": {"kind": "class", "names": [], "values": []}}),
            "labels for 5000 codes",
        ),
        (
            lambda d: rewrite_map(d, {"codes": {"dtype": "float16", "shape": [2, 2], "data": ""}}),
            "do not hold float16",
        ),
    ],
)
def test_a_broken_map_is_refused_naming_the_file(tmp_path: Path, damage: object, says: str) -> None:
    copy = tmp_path / "broken"
    shutil.copytree(SHIPPED, copy)
    damage(copy)  # type: ignore[operator]
    with pytest.raises(BundleInvalid, match=says):
        bundle.read_bundle(copy)


def test_a_manifest_that_misdescribes_its_map_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "wrong-count"
    shutil.copytree(SHIPPED, copy)
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    manifest["latent_map"]["points"] = 10
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleInvalid, match="latent_map says"):
        bundle.read_bundle(copy)
