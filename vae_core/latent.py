"""Latent-space arithmetic in numpy, shared by training (export, figures) and serving.

Notation follows chapter 3 of *Generative Deep Learning*: an encoder gives `z_mean` and `z_log_var`;
a point is `z = z_mean + exp(0.5 * z_log_var) * eps` with `eps ~ N(0, I)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vae_core.bundle import AttributeVector, LatentPrior
from vae_core.vocabulary import InterpolationMethod, ModelKind


def reparameterize(z_mean: np.ndarray, z_log_var: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """z = z_mean + exp(0.5 * z_log_var) * eps: the reparameterization trick."""
    return (z_mean + np.exp(0.5 * z_log_var) * eps).astype(np.float32)


def posterior_sample(
    z_mean: np.ndarray, z_log_var: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """z ~ q(z|x) by the reparameterization trick; an AE's posterior is the point z_mean."""
    if z_log_var is None:
        return z_mean
    eps = rng.standard_normal(z_mean.shape, dtype=np.float32)
    return reparameterize(z_mean, z_log_var, eps)


def prior_sample(
    prior: LatentPrior, n: int, latent_dim: int, rng: np.random.Generator, temperature: float
) -> np.ndarray:
    """n codes from the bundle's prior: N(0, I)·t (a VAE), or mean + L·eps·t (an AE's Gaussian of
    its training codes, L the Cholesky factor of their covariance)."""
    eps = rng.standard_normal((n, latent_dim), dtype=np.float32) * np.float32(temperature)
    if prior.kind == "standard_normal":
        return eps
    assert prior.mean is not None and prior.cholesky is not None  # the manifest checks this
    cholesky = np.asarray(prior.cholesky, dtype=np.float32)
    return (np.asarray(prior.mean, dtype=np.float32) + eps @ cholesky.T).astype(np.float32)


def attribute_vector(z_mean: np.ndarray, has_attribute: np.ndarray) -> np.ndarray:
    """Mean latent of images with the attribute minus the mean of those without it.

    Not normalised: strength 1.0 moves a code by the full difference of the two group means.
    """
    positive, negative = z_mean[has_attribute], z_mean[~has_attribute]
    if len(positive) == 0 or len(negative) == 0:
        raise ValueError("an attribute vector needs at least one positive and one negative code")
    return (
        positive.mean(axis=0, dtype=np.float64) - negative.mean(axis=0, dtype=np.float64)
    ).astype(np.float32)


def attribute_record(
    name: str, z_mean: np.ndarray, has_attribute: np.ndarray, custom: bool = False
) -> AttributeVector:
    """The attribute vector of `name` with the counts behind it, as the bundle stores it."""
    vector = attribute_vector(z_mean, has_attribute)
    return AttributeVector(
        name=name,
        vector=vector.tolist(),
        count_positive=int(has_attribute.sum()),
        count_negative=int((~has_attribute).sum()),
        norm=float(np.linalg.norm(vector)),
        custom=custom,
    )


def shift(z: np.ndarray, moves: Sequence[tuple[AttributeVector, float]]) -> np.ndarray:
    """z + Σ strength · vector: add (or, with a negative strength, subtract) attributes."""
    shifted = z.astype(np.float64)
    for vector, strength in moves:
        shifted = shifted + strength * vector.as_array().astype(np.float64)
    return shifted.astype(np.float32)


def interpolate(
    z_a: np.ndarray, z_b: np.ndarray, steps: int, method: InterpolationMethod
) -> np.ndarray:
    """`steps` points from z_a to z_b inclusive, [steps, D]."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float64)[:, None]
    a, b = z_a.astype(np.float64), z_b.astype(np.float64)
    if method == "linear":
        return ((1 - t) * a + t * b).astype(np.float32)
    return _slerp(a, b, t).astype(np.float32)


def _slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation; falls back to linear when a and b are (anti)parallel or zero."""
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    cos_omega = float(np.clip(a @ b / norms, -1.0, 1.0)) if norms > 0 else 1.0
    omega = np.arccos(cos_omega)
    if np.sin(omega) < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def gaussian_cholesky(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and lower Cholesky factor [D, D] of the empirical covariance of codes [N, D]."""
    mean = codes.mean(axis=0, dtype=np.float64)
    cov = np.atleast_2d(np.cov(codes.astype(np.float64), rowvar=False))
    jitter = 1e-6 * np.trace(cov) / len(cov)
    return mean, np.linalg.cholesky(cov + jitter * np.eye(len(cov)))


def empirical_prior(kind: ModelKind, z_train: np.ndarray) -> LatentPrior:
    """N(0, I) for a VAE; for an AE, the Gaussian fitted to its training codes."""
    if kind == "vae":
        return LatentPrior(kind="standard_normal")
    mean, cholesky = gaussian_cholesky(z_train)
    return LatentPrior(kind="empirical_gaussian", mean=mean.tolist(), cholesky=cholesky.tolist())
