"""The faces feature network and the faces bundle's evaluation, on the test split of the generated
faces the bundle was trained on: `python -m training faces --count 25000` (seed 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MODELS_DIR, worker_threads
from tests.training.test_quality import check_test_accuracy
from tests.training.test_shipped_int8 import check_against_recorded
from training.classifier import FeatureNetwork, load_feature_network
from training.datasets.catalog import load_dataset
from training.datasets.celeba import OFFICIAL, write_attributes, write_partition
from training.datasets.splits import DatasetSplits
from training.faces.writer import RenderJob, image_name, partition_codes, render_job
from training.quality import FIGURES, measure, measured_figures
from training.quantize import remeasure
from vae_core.graphs import load_autoencoder, session_options

pytestmark = pytest.mark.evaluation

FACES_MODEL = MODELS_DIR / "faces-vae-200d"
FACES, SEED = 25_000, 0  # as faces-vae-200d was trained: 80% train, 10% validation, 10% test
TEST = 2  # the partition code of the test split


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> DatasetSplits:
    """The 2,500 test faces of that run, read by the CelebA loader, without the 22,500 before
    them: a face is drawn from (seed, index) alone (tests/training/faces/test_records.py), so
    drawing faces 22,500..24,999 writes the same JPEG files `python -m training faces` writes for
    them (byte-identical whatever the workers: tests/training/faces/test_writer.py). They are
    written as a CelebA copy whose partition lists them all as test, which is the split both
    tests read."""
    out = tmp_path_factory.mktemp("faces")
    test = np.flatnonzero(partition_codes(FACES) == TEST)
    assert len(test) == 2_500 and (np.diff(test) == 1).all()
    drawn = render_job(RenderJob(SEED, int(test[0]), int(test[-1]) + 1))
    names = [image_name(index) for index in test]
    (out / OFFICIAL.images).mkdir()
    for name, jpeg in zip(names, drawn.jpegs, strict=True):
        (out / OFFICIAL.images / name).write_bytes(jpeg)
    write_attributes(out / OFFICIAL.attributes, names, drawn.labels)
    write_partition(out / OFFICIAL.partition, names, np.full(len(test), TEST, np.int8))
    splits = load_dataset("celeba", Path(out), 64)
    assert len(splits.train) == len(splits.val) == 0 and len(splits.test) == len(test)
    return splits


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
    model = load_autoencoder(FACES_MODEL, session_options(worker_threads()))
    assert model.manifest.evaluation is not None
    recorded = model.manifest.evaluation.model_dump()
    measured = measured_figures(measure(model, {}, faces.test, network, samples=2))
    for name in FIGURES:
        assert measured[name] == pytest.approx(recorded[name], rel=2e-3), name


def test_the_faces_int8_graphs_reproduce_their_recorded_gate_figures(faces: DatasetSplits) -> None:
    check_against_recorded(remeasure(FACES_MODEL, faces), FACES_MODEL.name)
