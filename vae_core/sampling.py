"""Samplers of codes, in numpy. Each is a mixture of Gaussians, p(z) = Σ_k w_k N(z; μ_k, L_k L_kᵀ):
the prior N(0, I) is one component with μ = 0 and L = I, the Gaussian fitted to the training codes
is one component, and the ex-post density estimate (Ghosh et al., "From Variational to Deterministic
Autoencoders", ICLR 2020) has K. A bundle keeps its fitted samplers in one `.npz` file.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from vae_core.errors import BundleInvalid
from vae_core.files import write_bytes_atomic
from vae_core.vocabulary import SamplerName

FITTED: tuple[SamplerName, ...] = ("gaussian", "gmm")  # what a bundle's samplers file holds
ARRAYS = ("weights", "means", "cholesky")


@dataclass(frozen=True)
class GaussianMixture:
    """Σ_k w_k N(μ_k, L_k L_kᵀ): `weights` [K] summing to 1, `means` [K, D], `cholesky` [K, D, D]
    lower-triangular factors of the covariances (float64)."""

    weights: np.ndarray
    means: np.ndarray
    cholesky: np.ndarray

    def __post_init__(self) -> None:
        k, d = self.means.shape
        if self.weights.shape != (k,) or self.cholesky.shape != (k, d, d):
            raise ValueError(
                f"a mixture needs weights [K], means [K, D], cholesky [K, D, D]; got "
                f"{self.weights.shape}, {self.means.shape}, {self.cholesky.shape}"
            )

    @property
    def components(self) -> int:
        return len(self.weights)

    @property
    def latent_dim(self) -> int:
        return int(self.means.shape[1])

    @cached_property
    def _float32(self) -> tuple[np.ndarray, np.ndarray]:
        return self.means.astype(np.float32), self.cholesky.astype(np.float32)

    def sample(self, n: int, rng: np.random.Generator, temperature: float) -> np.ndarray:
        """n codes [n, D] float32: pick component k by weight, then z = μ_k + t · L_k · eps.
        The same seed gives the same codes; one component draws no component index."""
        eps = rng.standard_normal((n, self.latent_dim), dtype=np.float32) * np.float32(temperature)
        means, cholesky = self._float32
        if self.components == 1:
            return (means[0] + eps @ cholesky[0].T).astype(np.float32)
        component = rng.choice(self.components, size=n, p=self.weights)
        z = np.empty_like(eps)
        for k in range(self.components):
            rows = component == k
            z[rows] = means[k] + eps[rows] @ cholesky[k].T
        return z

    def log_likelihood(self, z: np.ndarray) -> np.ndarray:
        """log p(z) [n] for codes z [n, D] (nats): log Σ_k w_k N(z; μ_k, L_k L_kᵀ)."""
        z = np.asarray(z, dtype=np.float64)
        per_component = np.stack(
            [
                math.log(w) + _log_normal(z, mean, cholesky) if w > 0 else np.full(len(z), -np.inf)
                for w, mean, cholesky in zip(self.weights, self.means, self.cholesky, strict=True)
            ]
        )
        top = per_component.max(axis=0)
        return top + np.log(np.exp(per_component - top).sum(axis=0))


def _log_normal(z: np.ndarray, mean: np.ndarray, cholesky: np.ndarray) -> np.ndarray:
    """log N(z; μ, L Lᵀ) = -½ (|L⁻¹ (z - μ)|² + D log 2π) - Σ log diag L."""
    y = np.linalg.solve(cholesky, (z - mean).T)
    return (
        -0.5 * ((y**2).sum(axis=0) + len(mean) * math.log(2 * math.pi))
        - np.log(np.diag(cholesky)).sum()
    )


def standard_normal(latent_dim: int) -> GaussianMixture:
    """The prior N(0, I): one component, μ = 0, L = I."""
    return GaussianMixture(
        np.ones(1), np.zeros((1, latent_dim)), np.eye(latent_dim)[None].astype(np.float64)
    )


def single_gaussian(mean: np.ndarray, cholesky: np.ndarray) -> GaussianMixture:
    """N(mean, L Lᵀ) as a one-component mixture."""
    return GaussianMixture(
        np.ones(1), np.asarray(mean, np.float64)[None], np.asarray(cholesky, np.float64)[None]
    )


def write_samplers(path: Path, samplers: Mapping[SamplerName, GaussianMixture]) -> None:
    """Write the fitted samplers (`FITTED`) to one .npz file: `<name>_<array>` per array."""
    missing = set(FITTED) - set(samplers)
    if missing:
        raise ValueError(f"write_samplers needs {sorted(missing)} too")
    arrays = {
        f"{name}_{array}": np.asarray(getattr(samplers[name], array), np.float64)
        for name in FITTED
        for array in ARRAYS
    }
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def read_samplers(path: Path, latent_dim: int) -> dict[SamplerName, GaussianMixture]:
    """The fitted samplers of a bundle's .npz file (no pickles), each checked: shapes against
    `latent_dim`, weights positive and summing to 1, finite lower-triangular factors with a
    positive diagonal. BundleInvalid names the file and the reason."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise BundleInvalid(f"{path}: not a readable .npz file: {exc}") from None
    expected = {f"{name}_{array}" for name in FITTED for array in ARRAYS}
    if set(arrays) != expected:
        raise BundleInvalid(f"{path}: holds {sorted(arrays)}, expected {sorted(expected)}")
    return {name: _checked_mixture(path, name, arrays, latent_dim) for name in FITTED}


def _checked_mixture(
    path: Path, name: str, arrays: dict[str, np.ndarray], latent_dim: int
) -> GaussianMixture:
    weights, means, cholesky = (arrays[f"{name}_{array}"] for array in ARRAYS)
    try:
        mixture = GaussianMixture(
            weights.astype(np.float64), means.astype(np.float64), cholesky.astype(np.float64)
        )
    except ValueError as exc:
        raise BundleInvalid(f"{path}: {name}: {exc}") from None
    problems = {
        f"codes of {mixture.latent_dim} dims, not {latent_dim}": mixture.latent_dim != latent_dim,
        "weights must be positive and sum to 1": bool(
            np.any(weights <= 0) or not np.isclose(weights.sum(), 1.0)
        ),
        "values must be finite": not all(np.isfinite(a).all() for a in (weights, means, cholesky)),
        "each factor must be lower-triangular with a positive diagonal": bool(
            np.any(np.triu(cholesky, 1) != 0) or np.any(np.diagonal(cholesky, 0, 1, 2) <= 0)
        ),
    }
    for problem, found in problems.items():
        if found:
            raise BundleInvalid(f"{path}: {name}: {problem}")
    return mixture
