"""Ex-post density estimation (`training.samplers`): the mixture fitted to codes drawn from a known
mixture recovers it, and the held-out BIC picks its number of components."""

from __future__ import annotations

import numpy as np
import pytest

from training.samplers import fit_gaussian, fit_mixture
from vae_core.sampling import GaussianMixture

pytestmark = pytest.mark.unit

TRUE_MEANS = np.array([[-6.0, 0.0], [0.0, 5.0], [6.0, -1.0]])
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_FACTORS = np.stack(
    [np.array([[1.0, 0.0], [0.6, 0.5]]), 0.7 * np.eye(2), np.array([[0.4, 0.0], [-0.3, 1.2]])]
)


@pytest.fixture(scope="module")
def known() -> GaussianMixture:
    return GaussianMixture(TRUE_WEIGHTS, TRUE_MEANS, TRUE_FACTORS)


def test_the_fitted_mixture_recovers_a_known_mixture(known: GaussianMixture) -> None:
    z_train = known.sample(6000, np.random.default_rng(0), 1.0)
    z_held_out = known.sample(2000, np.random.default_rng(1), 1.0)
    fitted, choice = fit_mixture(z_train, z_held_out)
    assert choice.components == fitted.components == 3
    assert choice.held_out_codes == 2000
    assert min(choice.scores.values()) == choice.scores["3"]
    order = [int(np.argmin(np.linalg.norm(fitted.means - m, axis=1))) for m in TRUE_MEANS]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(fitted.means[order], TRUE_MEANS, atol=0.1)
    np.testing.assert_allclose(fitted.weights[order], TRUE_WEIGHTS, atol=0.02)
    covariances = fitted.cholesky[order] @ fitted.cholesky[order].transpose(0, 2, 1)
    expected = TRUE_FACTORS @ TRUE_FACTORS.transpose(0, 2, 1)
    np.testing.assert_allclose(covariances, expected, atol=0.1)


def test_one_gaussian_is_chosen_for_gaussian_codes() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3000, 4)) * [1.0, 2.0, 0.5, 1.0] + [1, 2, 3, 4]
    fitted, choice = fit_mixture(z[:2000], z[2000:])
    assert choice.components == fitted.components == 1
    assert list(choice.scores) == ["1", "2", "3"]  # stops after two that do not improve


def test_the_gaussian_has_the_mean_and_covariance_of_the_codes(known: GaussianMixture) -> None:
    z = known.sample(5000, np.random.default_rng(2), 1.0).astype(np.float64)
    gaussian = fit_gaussian(z)
    assert gaussian.components == 1
    np.testing.assert_allclose(gaussian.means[0], z.mean(axis=0), atol=1e-9)
    covariance = gaussian.cholesky[0] @ gaussian.cholesky[0].T
    np.testing.assert_allclose(covariance, np.cov(z, rowvar=False), rtol=1e-4)


def test_mixture_samples_are_likelier_than_gaussian_samples_under_the_true_mixture(
    known: GaussianMixture,
) -> None:
    z = known.sample(6000, np.random.default_rng(0), 1.0)
    fitted, _ = fit_mixture(z[:4000], z[4000:])
    rng = np.random.default_rng(5)
    from_mixture = known.log_likelihood(fitted.sample(2000, rng, 1.0)).mean()
    from_gaussian = known.log_likelihood(fit_gaussian(z).sample(2000, rng, 1.0)).mean()
    assert from_mixture > from_gaussian + 1
