"""Ex-post density estimation: the samplers fitted to a model's training codes (z_mean).

`gaussian` is the one Gaussian of the codes; `gmm` a mixture of Gaussians with full covariances
(Ghosh et al., "From Variational to Deterministic Autoencoders", ICLR 2020), whose number of
components minimises the BIC of held-out codes (the validation split's).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnMixture

from vae_core.bundle import MixtureChoice
from vae_core.latent import gaussian_cholesky
from vae_core.sampling import GaussianMixture, single_gaussian

# Numbers of components tried, in order, until PATIENCE in a row fail to beat the best BIC.
COMPONENTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)
PATIENCE = 2
CRITERION = (
    "BIC of the held-out codes (validation split) under a mixture fitted to the training codes; "
    f"tried {COMPONENTS[0]}..{COMPONENTS[-1]} components in order until {PATIENCE} in a row did "
    "not improve on the best"
)


def fit_gaussian(z_train: np.ndarray) -> GaussianMixture:
    """The one Gaussian of the codes: their mean and the Cholesky factor of their covariance."""
    mean, cholesky = gaussian_cholesky(z_train)
    return single_gaussian(mean, cholesky)


def fit_mixture(
    z_train: np.ndarray, z_held_out: np.ndarray, seed: int = 0
) -> tuple[GaussianMixture, MixtureChoice]:
    """The mixture whose number of components gives the lowest BIC on the held-out codes."""
    scores: dict[str, float] = {}
    best: SklearnMixture | None = None
    best_bic, misses = np.inf, 0
    for k in COMPONENTS:
        if k > len(z_train) // 2 or misses >= PATIENCE:
            break
        fitted = _fit(z_train, k, seed)
        scores[str(k)] = bic = float(fitted.bic(z_held_out.astype(np.float64)))
        print(f"mixture of {k}: held-out BIC {bic:.1f}")
        if bic < best_bic:
            best, best_bic, misses = fitted, bic, 0
        else:
            misses += 1
    assert best is not None
    choice = MixtureChoice(
        components=best.n_components,
        criterion=CRITERION,
        held_out_codes=len(z_held_out),
        scores=scores,
    )
    return as_mixture(best), choice


def _fit(z: np.ndarray, components: int, seed: int) -> SklearnMixture:
    mixture = SklearnMixture(
        components, covariance_type="full", max_iter=300, n_init=1, random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # its BIC still ranks it
        return mixture.fit(z.astype(np.float64))


def as_mixture(fitted: SklearnMixture) -> GaussianMixture:
    """scikit-learn's fitted mixture as the bundle's (weights, means, Cholesky factors)."""
    weights = np.asarray(fitted.weights_, np.float64)
    return GaussianMixture(
        weights / weights.sum(),
        np.asarray(fitted.means_, np.float64),
        np.linalg.cholesky(np.asarray(fitted.covariances_, np.float64)),
    )
