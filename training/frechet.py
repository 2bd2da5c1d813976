"""The Fréchet distance between two sets of features, each summarised by a Gaussian (as FID does
with Inception features, Heusel et al. 2017):

    d² = |μ_a - μ_b|² + tr(Σ_a) + tr(Σ_b) - 2 tr((Σ_a^½ Σ_b Σ_a^½)^½)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeatureStatistics:
    """Mean [F] and covariance [F, F] of features [N, F]."""

    mean: np.ndarray
    covariance: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureStatistics:
        features = np.asarray(features, dtype=np.float64)
        if len(features) < 2:
            raise ValueError("feature statistics need at least two rows")
        return cls(features.mean(axis=0), np.cov(features, rowvar=False))


def frechet_distance(a: FeatureStatistics, b: FeatureStatistics) -> float:
    """d² between the Gaussians of two feature sets (0 for identical statistics). The matrix
    square roots come from symmetric eigendecompositions, so the result is real."""
    root_a = _psd_sqrt(a.covariance)
    cross = _psd_eigenvalues(root_a @ b.covariance @ root_a)
    trace_sqrt = float(np.sqrt(cross).sum())
    difference = a.mean - b.mean
    value = difference @ difference + np.trace(a.covariance) + np.trace(b.covariance)
    return float(max(value - 2 * trace_sqrt, 0.0))


def _psd_eigenvalues(matrix: np.ndarray) -> np.ndarray:
    return np.clip(np.linalg.eigvalsh((matrix + matrix.T) / 2), 0, None)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
