"""The latent maths both halves share, against the formulas of chapter 3."""

from __future__ import annotations

import numpy as np
import pytest

from vae_core import latent
from vae_core.bundle import AttributeVector, LatentPrior

pytestmark = pytest.mark.unit

RNG = np.random.default_rng(0)


def test_reparameterize_is_mean_plus_std_times_eps() -> None:
    z_mean, z_log_var, eps = (RNG.standard_normal((4, 3)).astype(np.float32) for _ in range(3))
    expected = z_mean + np.exp(0.5 * z_log_var) * eps
    np.testing.assert_allclose(latent.reparameterize(z_mean, z_log_var, eps), expected, rtol=1e-6)


def test_an_autoencoders_posterior_is_its_point() -> None:
    z_mean = RNG.standard_normal((2, 5)).astype(np.float32)
    assert latent.posterior_sample(z_mean, None, np.random.default_rng(1)) is z_mean


def test_posterior_samples_have_the_encoded_spread_and_repeat_per_seed() -> None:
    z_mean = np.full((20_000, 2), 3.0, np.float32)
    z_log_var = np.log(np.full((20_000, 2), [0.25, 4.0], np.float32))
    z = latent.posterior_sample(z_mean, z_log_var, np.random.default_rng(7))
    np.testing.assert_allclose(z.mean(axis=0), [3.0, 3.0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), [0.5, 2.0], rtol=0.03)
    again = latent.posterior_sample(z_mean, z_log_var, np.random.default_rng(7))
    np.testing.assert_array_equal(z, again)


def test_prior_samples_follow_the_prior_and_the_temperature() -> None:
    normal = latent.prior_sample(LatentPrior(kind="standard_normal"), 20_000, 3, RNG, 0.5)
    assert normal.shape == (20_000, 3) and normal.dtype == np.float32
    np.testing.assert_allclose(normal.std(axis=0), 0.5, rtol=0.03)
    codes = RNG.multivariate_normal([1.0, -2.0], [[2.0, 0.6], [0.6, 1.0]], 50_000)
    fitted = latent.empirical_prior("ae", codes)
    assert fitted.kind == "empirical_gaussian"
    drawn = latent.prior_sample(fitted, 50_000, 2, RNG, 1.0)
    np.testing.assert_allclose(drawn.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(np.cov(drawn, rowvar=False), [[2.0, 0.6], [0.6, 1.0]], atol=0.08)
    assert latent.empirical_prior("vae", codes).kind == "standard_normal"


def test_the_cholesky_factor_rebuilds_the_covariance() -> None:
    codes = RNG.standard_normal((5_000, 4)) @ RNG.standard_normal((4, 4))
    mean, cholesky = latent.gaussian_cholesky(codes)
    np.testing.assert_allclose(mean, codes.mean(axis=0))
    np.testing.assert_allclose(cholesky @ cholesky.T, np.cov(codes, rowvar=False), rtol=1e-4)
    assert np.allclose(cholesky, np.tril(cholesky))


def test_an_attribute_vector_is_the_difference_of_the_group_means() -> None:
    z_mean = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 0.0], [0.0, 4.0]], np.float32)
    has = np.array([True, True, False, False])
    np.testing.assert_allclose(latent.attribute_vector(z_mean, has), [2.0, -1.0])
    record = latent.attribute_record("Smiling", z_mean, has)
    assert (record.count_positive, record.count_negative) == (2, 2)
    assert record.norm == pytest.approx(np.sqrt(5.0))
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        latent.attribute_vector(z_mean, np.zeros(4, bool))


def test_shift_adds_each_strength_times_its_vector() -> None:
    up = AttributeVector(name="a", vector=[1.0, 0.0], count_positive=1, count_negative=1, norm=1)
    right = AttributeVector(name="b", vector=[0.0, 2.0], count_positive=1, count_negative=1, norm=2)
    z = np.array([[0.5, 0.5]], np.float32)
    np.testing.assert_allclose(latent.shift(z, [(up, 2.0), (right, -0.5)]), [[2.5, -0.5]])


def test_interpolation_runs_from_one_end_to_the_other() -> None:
    a, b = np.array([2.0, 0.0], np.float32), np.array([0.0, 2.0], np.float32)
    for method in ("linear", "slerp"):
        path = latent.interpolate(a, b, 5, method)
        assert path.shape == (5, 2)
        np.testing.assert_allclose(path[0], a, atol=1e-6)
        np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(latent.interpolate(a, b, 3, "linear")[1], [1.0, 1.0])
    # slerp keeps to the circle through two codes of the same length; a line cuts inside it.
    np.testing.assert_allclose(np.linalg.norm(latent.interpolate(a, b, 9, "slerp"), axis=1), 2.0)


def test_slerp_between_parallel_codes_falls_back_to_a_line() -> None:
    a = np.array([1.0, 1.0], np.float32)
    path = latent.interpolate(a, 3 * a, 3, "slerp")
    np.testing.assert_allclose(path, [[1, 1], [2, 2], [3, 3]], atol=1e-6)
