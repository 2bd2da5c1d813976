"""The project's own evaluation (`training.quality`, `python -m training evaluate`): the Fréchet
distance, the shipped feature network, and the figures the shipped bundles record."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import MODELS_DIR, worker_threads
from training.classifier import FeatureNetwork, load_feature_network
from training.datasets.splits import DatasetSplits
from training.frechet import FeatureStatistics, frechet_distance
from training.quality import FIGURES, figures, measure, measured_figures
from vae_core.graphs import load_autoencoder, session_options

pytestmark = pytest.mark.evaluation

REPRODUCED = "fashion-vae-2d"  # the cheapest shipped model to measure in full
MIN_ACCURACY = 0.90


@pytest.fixture(scope="module")
def network() -> FeatureNetwork:
    return load_feature_network("fashion-mnist")


@pytest.fixture(scope="module")
def test_features(network: FeatureNetwork, fashion: DatasetSplits) -> np.ndarray:
    return network.features(fashion.preprocessing.to_tensor(fashion.test.pixels))


@pytest.mark.unit
def test_the_frechet_distance_of_two_diagonal_gaussians_has_its_closed_form() -> None:
    """For diagonal covariances d² = |μa - μb|² + Σ (σa - σb)²."""
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.normal(size=5), rng.normal(size=5)
    std_a, std_b = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    a = FeatureStatistics(mean_a, np.diag(std_a**2))
    b = FeatureStatistics(mean_b, np.diag(std_b**2))
    expected = ((mean_a - mean_b) ** 2).sum() + ((std_a - std_b) ** 2).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)


@pytest.mark.unit
def test_the_frechet_distance_is_symmetric_for_full_covariances() -> None:
    rng = np.random.default_rng(1)
    a = FeatureStatistics.of(rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)))
    b = FeatureStatistics.of(rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 1)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    assert frechet_distance(a, b) > 1


def check_test_accuracy(network: FeatureNetwork, data: DatasetSplits) -> None:
    """A feature network's accuracy on the test split is what its record says, and enough."""
    accuracy = network.accuracy(data.preprocessing.to_tensor(data.test.pixels), data.test)
    print(f"feature network {network.name}: {accuracy:.2%} on {len(data.test)} test images")
    assert accuracy == pytest.approx(network.test_accuracy, abs=1e-3)
    assert accuracy >= MIN_ACCURACY


def test_the_feature_network_is_as_accurate_on_the_real_test_set_as_recorded(
    network: FeatureNetwork, fashion: DatasetSplits
) -> None:
    check_test_accuracy(network, fashion)


def test_the_frechet_distance_separates_test_halves_reconstructions_and_noise(
    network: FeatureNetwork, fashion: DatasetSplits, test_features: np.ndarray
) -> None:
    """The measure can fail: the test set against itself is near 0, blurred reconstructions are
    far from it, and noise is farther still."""
    reference = FeatureStatistics.of(test_features)
    halves = frechet_distance(
        FeatureStatistics.of(test_features[:5000]), FeatureStatistics.of(test_features[5000:])
    )
    model = load_autoencoder(MODELS_DIR / "fashion-vae-2d", session_options(worker_threads()))
    x = fashion.preprocessing.to_tensor(fashion.test.pixels[:5000])
    reconstructions = model.decode(model.encode(x).z_mean)
    recon = frechet_distance(FeatureStatistics.of(network.features(reconstructions)), reference)
    noise_images = np.random.default_rng(0).uniform(size=x.shape).astype(np.float32)
    noise = frechet_distance(FeatureStatistics.of(network.features(noise_images)), reference)
    print(f"Fréchet distance: halves {halves:.2f}, reconstructions {recon:.2f}, noise {noise:.2f}")
    assert halves < recon / 10
    assert noise > 3 * recon


def test_the_evaluation_reproduces_the_figures_a_shipped_bundle_records(
    network: FeatureNetwork, fashion: DatasetSplits
) -> None:
    model = load_autoencoder(MODELS_DIR / REPRODUCED, session_options(worker_threads()))
    evaluation = model.manifest.evaluation
    assert evaluation is not None and evaluation.feature_network_sha256 == network.sha256
    assert evaluation.test_images == len(fashion.test)
    measured = measured_figures(
        measure(model, model.samplers, fashion.test, network, evaluation.samples_per_sampler)
    )
    recorded = figures(model.manifest)
    assert (
        set(recorded)
        == set(measured)
        == {*FIGURES, "frechet_prior", "frechet_gaussian", "frechet_gmm"}
    )
    for name, value in recorded.items():
        assert measured[name] == pytest.approx(value, rel=2e-3), name
