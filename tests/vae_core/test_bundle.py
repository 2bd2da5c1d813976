"""Reading a bundle: a shipped one reads whole; a broken one says which file and why."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MODELS_DIR, ROOT
from vae_core import bundle
from vae_core.errors import BundleInvalid
from vae_core.graphs import load_autoencoder

pytestmark = pytest.mark.unit

SHIPPED = MODELS_DIR / "fashion-vae-2d"


def test_a_shipped_bundle_reads_with_its_checksums_and_vectors() -> None:
    read = bundle.read_bundle(SHIPPED)
    assert read.name == "fashion-vae-2d" and read.manifest.kind == "vae"
    assert bundle.checksums(SHIPPED) == read.manifest.files
    assert set(read.attributes) == set(read.manifest.dataset.labels)


def test_its_graphs_encode_and_decode_with_the_promised_shapes() -> None:
    model = load_autoencoder(SHIPPED)
    codes = model.encode(np.zeros((3, *model.image_shape), np.float32))
    assert codes.z_mean.shape == codes.z_log_var.shape == (3, 2)  # type: ignore[union-attr]
    assert model.decode(codes.z_mean).shape == (3, *model.image_shape)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda d: (d / bundle.MANIFEST).unlink(), "model.json: missing"),
        (lambda d: (d / bundle.DECODER).write_bytes(b"not a graph"), "decoder.onnx: sha256"),
        (lambda d: (d / bundle.ATTRIBUTES).unlink(), "attributes.json: missing"),
        (lambda d: (d / bundle.MANIFEST).write_text("{}"), "model.json: name: Field required"),
    ],
)
def test_a_broken_bundle_is_refused_naming_the_file(
    tmp_path: Path, damage: object, says: str
) -> None:
    copy = tmp_path / "broken"
    shutil.copytree(SHIPPED, copy)
    damage(copy)  # type: ignore[operator]
    with pytest.raises(BundleInvalid, match=says):
        bundle.read_bundle(copy)


@pytest.mark.e2e
def test_the_core_imports_neither_torch_nor_a_web_framework() -> None:
    script = (
        "import sys, vae_core.bundle, vae_core.graphs, vae_core.latent, vae_core.files\n"
        "loaded = {'torch', 'fastapi', 'starlette', 'service', 'training'} & set(sys.modules)\n"
        "sys.exit(f'imported {sorted(loaded)}' if loaded else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
