"""The samplers (`vae_core.sampling`): shapes, determinism, temperature, likelihood, file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vae_core.errors import BundleInvalid
from vae_core.sampling import (
    GaussianMixture,
    read_samplers,
    single_gaussian,
    standard_normal,
    write_samplers,
)
from vae_core.vocabulary import SamplerName

pytestmark = pytest.mark.unit

D = 3


def two_blobs() -> GaussianMixture:
    means = np.array([[-4.0, 0.0, 1.0], [4.0, 2.0, -1.0]])
    cholesky = np.stack([0.5 * np.eye(D), np.array([[1.0, 0, 0], [0.5, 0.3, 0], [0, 0.2, 0.4]])])
    return GaussianMixture(np.array([0.25, 0.75]), means, cholesky)


def every_sampler() -> dict[SamplerName, GaussianMixture]:
    return {
        "prior": standard_normal(D),
        "gaussian": single_gaussian(np.array([1.0, -2.0, 0.5]), np.diag([2.0, 1.0, 0.5])),
        "gmm": two_blobs(),
    }


@pytest.mark.parametrize("name", ["prior", "gaussian", "gmm"])
def test_every_sampler_gives_float32_codes_of_the_right_shape(name: SamplerName) -> None:
    z = every_sampler()[name].sample(7, np.random.default_rng(0), 1.0)
    assert z.shape == (7, D) and z.dtype == np.float32
    assert every_sampler()[name].sample(0, np.random.default_rng(0), 1.0).shape == (0, D)


@pytest.mark.parametrize("name", ["prior", "gaussian", "gmm"])
def test_sampling_is_deterministic_per_seed(name: SamplerName) -> None:
    sampler = every_sampler()[name]
    first = sampler.sample(50, np.random.default_rng(3), 0.8)
    np.testing.assert_array_equal(first, sampler.sample(50, np.random.default_rng(3), 0.8))
    assert not np.array_equal(first, sampler.sample(50, np.random.default_rng(4), 0.8))


def test_the_prior_is_the_standard_normal_scaled_by_temperature() -> None:
    """The same codes as N(0, I)·t drawn directly with the same generator."""
    z = standard_normal(D).sample(5, np.random.default_rng(1), 0.5)
    expected = np.random.default_rng(1).standard_normal((5, D), dtype=np.float32) * np.float32(0.5)
    np.testing.assert_array_equal(z, expected)


def test_the_mixture_draws_each_component_by_its_weight_and_spread() -> None:
    mixture = two_blobs()
    z = mixture.sample(20_000, np.random.default_rng(0), 1.0)
    right = z[:, 0] > 0
    assert right.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(z[right].mean(axis=0), mixture.means[1], atol=0.03)
    covariance = mixture.cholesky[1] @ mixture.cholesky[1].T
    np.testing.assert_allclose(np.cov(z[right], rowvar=False), covariance, atol=0.03)


@pytest.mark.parametrize("name", ["prior", "gaussian", "gmm"])
def test_temperature_scales_the_spread_about_each_component_mean(name: SamplerName) -> None:
    """With the same generator, z(t) = μ_k + t·L_k·eps: at t = 0.5 each code lies halfway between
    its component's mean and its code at t = 1, so 2·z(0.5) - z(1) is that mean."""
    sampler = every_sampler()[name]
    full = sampler.sample(4000, np.random.default_rng(2), 1.0)
    cool = sampler.sample(4000, np.random.default_rng(2), 0.5)
    centres = (2 * cool - full)[:, None, :]
    nearest = np.abs(centres - sampler.means[None]).max(axis=2).min(axis=1)
    assert nearest.max() < 1e-4
    assert cool.std() < 0.9 * full.std() or sampler.components > 1


def test_the_standard_normal_log_likelihood_is_the_textbook_formula() -> None:
    z = np.random.default_rng(0).standard_normal((10, D))
    expected = -0.5 * (z**2).sum(axis=1) - 0.5 * D * math.log(2 * math.pi)
    np.testing.assert_allclose(standard_normal(D).log_likelihood(z), expected, rtol=1e-12)


def test_the_mixture_log_likelihood_weighs_its_components() -> None:
    """log p(z) = log Σ w_k N(z; μ_k, Σ_k), each density from inverse and determinant."""
    mixture = two_blobs()
    z = np.random.default_rng(1).standard_normal((6, D)) * 3
    density = np.zeros(len(z))
    for w, mean, factor in zip(mixture.weights, mixture.means, mixture.cholesky, strict=True):
        covariance = factor @ factor.T
        diff = z - mean
        mahalanobis = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(covariance), diff)
        density += (
            w * np.exp(-0.5 * mahalanobis) / np.sqrt((2 * np.pi) ** D * np.linalg.det(covariance))
        )
    np.testing.assert_allclose(mixture.log_likelihood(z), np.log(density), rtol=1e-9)


def test_mixture_samples_are_likelier_under_the_mixture_than_prior_samples() -> None:
    mixture = two_blobs()
    rng = np.random.default_rng(0)
    own = mixture.log_likelihood(mixture.sample(500, rng, 1.0)).mean()
    prior = mixture.log_likelihood(standard_normal(D).sample(500, rng, 1.0)).mean()
    assert own > prior + 5


def test_a_mixture_refuses_inconsistent_shapes() -> None:
    with pytest.raises(ValueError, match="cholesky"):
        GaussianMixture(np.ones(2) / 2, np.zeros((2, D)), np.stack([np.eye(D)] * 3))


def test_the_samplers_file_round_trips(tmp_path: Path) -> None:
    fitted = {name: s for name, s in every_sampler().items() if name != "prior"}
    write_samplers(tmp_path / "samplers.npz", fitted)
    back = read_samplers(tmp_path / "samplers.npz", D)
    assert set(back) == {"gaussian", "gmm"}
    for name, sampler in fitted.items():
        for array in ("weights", "means", "cholesky"):
            np.testing.assert_array_equal(getattr(back[name], array), getattr(sampler, array))


def _write_raw(path: Path, **overrides: np.ndarray) -> None:
    arrays = {
        f"{name}_{array}": getattr(sampler, array)
        for name, sampler in (("gaussian", standard_normal(D)), ("gmm", two_blobs()))
        for array in ("weights", "means", "cholesky")
    }
    np.savez(path, **(arrays | overrides))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"gmm_weights": np.array([0.5, 0.6])}, "sum to 1"),
        ({"gmm_cholesky": np.stack([np.eye(D), -np.eye(D)])}, "positive diagonal"),
        ({"gmm_cholesky": np.stack([np.eye(D), np.ones((D, D))])}, "lower-triangular"),
        ({"gaussian_means": np.full((1, D), np.nan)}, "finite"),
        ({"gmm_means": np.zeros((2, D + 1))}, "cholesky"),
        ({"extra": np.zeros(1)}, "expected"),
    ],
)
def test_a_bad_samplers_file_is_refused_with_the_reason(
    tmp_path: Path, overrides: dict[str, np.ndarray], reason: str
) -> None:
    _write_raw(tmp_path / "samplers.npz", **overrides)
    with pytest.raises(BundleInvalid, match=reason):
        read_samplers(tmp_path / "samplers.npz", D)


def test_a_samplers_file_of_another_latent_size_or_with_pickles_is_refused(tmp_path: Path) -> None:
    _write_raw(tmp_path / "samplers.npz")
    with pytest.raises(BundleInvalid, match="dims"):
        read_samplers(tmp_path / "samplers.npz", D + 1)
    np.savez(tmp_path / "pickled.npz", gmm_weights=np.array([{"a": 1}], dtype=object))
    with pytest.raises(BundleInvalid):
        read_samplers(tmp_path / "pickled.npz", D)
