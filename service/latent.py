"""Latent-space arithmetic in numpy, shared by training (export) and serving.

Notation follows chapter 3 of *Generative Deep Learning*: an encoder gives `z_mean` and `z_log_var`;
a point is `z = z_mean + exp(0.5 * z_log_var) * eps` with `eps ~ N(0, I)`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

InterpolationMethod = Literal["linear", "slerp"]


def reparameterize(z_mean: np.ndarray, z_log_var: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """z = z_mean + exp(0.5 * z_log_var) * eps: the reparameterization trick."""
    return (z_mean + np.exp(0.5 * z_log_var) * eps).astype(np.float32)


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
