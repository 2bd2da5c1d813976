"""The bundles committed in models/: they load without torch and reproduce their metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.conftest import MODELS_DIR, ROOT, worker_threads
from training.datasets.splits import DatasetSplits
from vae_core import bundle
from vae_core.graphs import session_options

pytestmark = pytest.mark.evaluation

SHIPPED = ["fashion-ae-2d", "fashion-vae-2d", "fashion-vae-32d"]
# The most per-pixel test BCE each shipped VAE may have when decoding z_mean (32x32 padded images):
# a retrained bundle that reconstructs worse than this fails.
BCE_TARGETS = {"fashion-vae-2d": 0.255, "fashion-vae-32d": 0.225}

LOAD_WITHOUT_TORCH = """
import sys
from pathlib import Path
import numpy as np
import onnxruntime as ort
from vae_core import bundle
path = Path(sys.argv[1])
manifest = bundle.read_manifest(path)
bundle.verify_files(path, manifest)
encoder = ort.InferenceSession(str(path / bundle.ENCODER))
decoder = ort.InferenceSession(str(path / bundle.DECODER))
image = np.zeros((1, *manifest.preprocessing.output_shape), np.float32)
z = encoder.run(["z_mean"], {"image": image})[0]
assert decoder.run(None, {"z": z})[0].shape == image.shape
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""


@pytest.mark.e2e
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bundle_loads_in_onnx_runtime_without_torch(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_TORCH, str(MODELS_DIR / name)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _decode_z_mean(
    path: Path, pixels: np.ndarray, prep: bundle.Preprocessing
) -> tuple[np.ndarray, np.ndarray]:
    options = session_options(worker_threads())
    encoder = ort.InferenceSession(str(path / bundle.ENCODER), options)
    decoder = ort.InferenceSession(str(path / bundle.DECODER), options)
    x = prep.to_tensor(pixels)
    z_mean = encoder.run(["z_mean"], {"image": x})[0]
    return x, decoder.run(None, {"z": z_mean})[0]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bundle_reproduces_its_recorded_test_metrics(
    name: str, fashion: DatasetSplits
) -> None:
    path = MODELS_DIR / name
    manifest = bundle.read_manifest(path)
    assert manifest.dataset.name == "fashion-mnist"
    assert manifest.dataset.test_size == len(fashion.test) == 10000
    x, x_hat = _decode_z_mean(path, fashion.test.pixels, manifest.preprocessing)
    p = np.clip(x_hat.astype(np.float64), 1e-7, 1 - 1e-7)
    bce = float(np.mean(-(x * np.log(p) + (1 - x) * np.log(1 - p))))
    mse = float(np.mean((x_hat - x) ** 2))
    assert bce == pytest.approx(manifest.metrics["test_bce_per_pixel"], rel=1e-3)
    assert mse == pytest.approx(manifest.metrics["test_mse_per_pixel"], rel=1e-3)


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(BCE_TARGETS))
def test_shipped_vaes_meet_their_reconstruction_targets(name: str) -> None:
    manifest = bundle.read_manifest(MODELS_DIR / name)
    assert manifest.kind == "vae"
    assert manifest.metrics["test_bce_per_pixel"] <= BCE_TARGETS[name]
    assert manifest.metrics["test_nll_is_nats"] <= manifest.metrics["test_neg_elbo_nats"]


@pytest.mark.unit
def test_the_large_latent_vae_reconstructs_better_than_the_2d_models() -> None:
    bce = {n: bundle.read_manifest(MODELS_DIR / n).metrics["test_bce_per_pixel"] for n in SHIPPED}
    assert bce["fashion-vae-32d"] < min(bce["fashion-vae-2d"], bce["fashion-ae-2d"])
