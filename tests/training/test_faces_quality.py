"""The faces feature network and the faces bundle's evaluation, on the generated faces the bundle
was trained on: `python -m training faces --count 25000` (seed 0) recreates them exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODELS_DIR, ROOT
from tests.training.test_quality import check_test_accuracy
from tests.training.test_shipped_int8 import check_against_recorded
from training.classifier import FeatureNetwork, load_feature_network
from training.datasets.registry import load_dataset
from training.datasets.splits import DatasetSplits
from training.quality import FIGURES, measure, measured_figures
from training.quantize import remeasure
from vae_core.graphs import load_autoencoder, session_options

FACES_MODEL = MODELS_DIR / "faces-vae-200d"
FACES = 25_000  # as faces-vae-200d was trained: 80% train, 10% validation, 10% test


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> DatasetSplits:
    out = tmp_path_factory.mktemp("faces")
    command = [sys.executable, "-m", "training", "faces", "--out", str(out), "--count", str(FACES)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=900)
    return load_dataset("celeba", Path(out), 64)


@pytest.fixture(scope="module")
def network() -> FeatureNetwork:
    return load_feature_network("faces")


def test_the_faces_feature_network_is_as_accurate_on_the_test_faces_as_recorded(
    network: FeatureNetwork, faces: DatasetSplits
) -> None:
    check_test_accuracy(network, faces)  # the mean over the attributes the faces vary


def test_the_faces_evaluation_reproduces_its_recorded_reconstruction_figures(
    network: FeatureNetwork, faces: DatasetSplits
) -> None:
    """Every figure but the samplers' (10,000 decoded faces each), which test_quality covers for
    the Fashion-MNIST models with the same code."""
    model = load_autoencoder(FACES_MODEL, session_options(threads=2))
    assert model.manifest.evaluation is not None
    recorded = model.manifest.evaluation.model_dump()
    measured = measured_figures(measure(model, {}, faces.test, network, samples=2))
    for name in FIGURES:
        assert measured[name] == pytest.approx(recorded[name], rel=2e-3), name


def test_the_faces_int8_graphs_reproduce_their_recorded_gate_figures(faces: DatasetSplits) -> None:
    check_against_recorded(remeasure(FACES_MODEL, faces), FACES_MODEL.name)
