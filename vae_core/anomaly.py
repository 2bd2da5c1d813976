"""Anomaly scores: how unlike its training data an image is, computed from a bundle's ONNX graphs
in numpy (the service keeps no torch; training's calibration and evaluation run the same code).

Every score is oriented so that higher means more anomalous. For an image x (the encoder's input,
in [0, 1], D pixels), q(z|x) = N(z_mean, diag(exp(z_log_var))) and x_hat = decode(z_mean):

- `latent`: -log p(z_mean) in nats, p the density of the bundle's `gmm` sampler, the mixture of
  Gaussians fitted to the training codes (its `gaussian` or prior without samplers.npz);
- `reconstruction`: the per-pixel reconstruction loss of x_hat as the model was trained, BCE
  -mean(x log x_hat + (1 - x) log(1 - x_hat)) or MSE mean((x - x_hat)^2);
- `l1`: mean |x - x_hat| per pixel;
- `elbo` (VAE): -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)) in nats, the expectation over
  K = `elbo_samples` samples z_k = z_mean + exp(z_log_var / 2) * eps_k, and KL = -0.5 * sum(1 +
  z_log_var - z_mean^2 - exp(z_log_var));
- `nll` (VAE): -log p(x) by importance sampling with K = `nll_samples` samples,
  -(logsumexp_k [log p(x|z_k) + log N(z_k; 0, I) - log q(z_k|x)] - log K), in nats;
- `complexity` (VAE): `elbo` in bits minus the length in bits of the image's PNG at the model's
  preprocessing (Serrà et al. 2020, "Input complexity and out-of-distribution detection");
- `combined`: the calibrated combination of others (vae_core.calibration).

The eps_k are K fixed vectors drawn from `seed`, the same for every image: an image's score does
not depend on its batch-mates or on chance. p(x|z) is the likelihood the training loss implies:
Bernoulli per pixel for BCE (log p = sum x log x_hat + (1 - x) log(1 - x_hat), as the loss), and
for MSE with KL weight beta the Gaussian N(x_hat, beta / 2), whose -log p is SSE / beta plus a
constant, so that the loss SSE + beta * KL is -ELBO up to a factor.
"""

from __future__ import annotations

import io
import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vae_core.calibration import COMBINED, AnomalyInfo, Calibration
from vae_core.graphs import Codes, OnnxAutoencoder
from vae_core.sampling import GaussianMixture
from vae_core.vocabulary import ModelKind, Reconstruction, SamplerName, ScoreName

BCE_EPS = 1e-7  # x_hat clamped to [eps, 1 - eps], as training's per-pixel BCE figures
PNG_LEVEL = 9
COMPRESSOR = f"PNG (Pillow, zlib level {PNG_LEVEL}) of the uint8 model input"
MAP_QUANTITY = "|x - x_hat|, the absolute error of the reconstruction of z_mean, mean over channels"
# The scores a model kind offers besides `combined`, and the weights of `combined`: the code's
# density carries the weight (the best single score measured, on flips too), the likelihoods
# guard against what it misses (noise, constant and inverted images).
OFFERED: dict[ModelKind, tuple[ScoreName, ...]] = {
    "vae": ("latent", "reconstruction", "l1", "elbo", "nll", "complexity"),
    "ae": ("latent", "reconstruction", "l1"),
}
COMBINATION: dict[ModelKind, dict[ScoreName, float]] = {
    "vae": {"latent": 0.98, "elbo": 0.01, "complexity": 0.01},
    "ae": {"latent": 0.98, "reconstruction": 0.02},
}
UNITS: dict[ScoreName, str] = {
    "combined": "max over its scores of log weight - log p-value",
    "latent": "nats",
    "reconstruction": "per pixel",
    "l1": "per pixel",
    "elbo": "nats",
    "nll": "nats",
    "complexity": "bits",
}
# What each score needs computed, beyond the encoder's output.
_NEEDS_X_HAT = {"reconstruction", "l1"}
_NEEDS_SAMPLES = {"elbo", "nll", "complexity"}


@dataclass(frozen=True)
class Likelihood:
    """log p(x|z) per image from decoded means x_hat [..., D] and images x [..., D]."""

    kind: Reconstruction
    beta: float

    def log_p(self, x_hat: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.kind == "bce":
            return -bce(x_hat, x).sum(axis=-1)
        variance = self.beta / 2
        sse = ((x_hat.astype(np.float64) - x) ** 2).sum(axis=-1)
        return -sse / (2 * variance) - 0.5 * x.shape[-1] * math.log(2 * math.pi * variance)

    def describe(self) -> str:
        if self.kind == "bce":
            return "Bernoulli per pixel (trained with BCE)"
        return f"Gaussian N(x_hat, beta / 2 = {self.beta / 2:g}) per pixel (trained with MSE)"


@dataclass(frozen=True)
class Measured:
    """The scores of a batch by name, and the reconstruction of z_mean if it was decoded."""

    scores: dict[ScoreName, np.ndarray]
    x_hat: np.ndarray | None


class Scorer:
    """The scores of images under one model: `measure(x, names)`."""

    def __init__(self, model: OnnxAutoencoder, elbo_samples: int, nll_samples: int, seed: int):
        self.model = model
        self.kind = model.manifest.kind
        training = model.manifest.training
        self.likelihood = Likelihood(training["reconstruction"], float(training["beta"]))
        self.elbo_samples, self.nll_samples = elbo_samples, nll_samples
        self.eps = np.random.default_rng(seed).standard_normal(
            (max(elbo_samples, nll_samples), model.latent_dim), dtype=np.float32
        )
        self.density_name, self.density = latent_density(model.samplers)
        self.scale = model.manifest.preprocessing.scale

    @property
    def offered(self) -> tuple[ScoreName, ...]:
        return OFFERED[self.kind]

    def measure(
        self,
        x: np.ndarray,
        names: Collection[ScoreName],
        calibration: Calibration | None = None,
        reconstruct: bool = False,
    ) -> Measured:
        """The scores `names` of images x [N, C, H, W] in [0, 1]; `combined` needs the
        calibration. `reconstruct`: decode z_mean even if no score needs it (for the map)."""
        base = set(names) - {COMBINED}
        if COMBINED in names:
            assert calibration is not None, "the combined score needs a calibration"
            base |= set(calibration.info.combination)
        codes = self.model.encode(x)
        flat = x.reshape(len(x), -1).astype(np.float64)
        scores: dict[ScoreName, np.ndarray] = {}
        x_hat = None
        if "latent" in base:
            scores["latent"] = -self.density.log_likelihood(codes.z_mean)
        if reconstruct or _NEEDS_X_HAT & base:
            x_hat = self.model.decode(codes.z_mean)
            scores |= self._reconstruction(x_hat.reshape(len(x), -1), flat, base)
        if _NEEDS_SAMPLES & base:
            scores |= self._likelihoods(codes, x, flat, base)
        if calibration is not None and COMBINED in names:
            scores[COMBINED] = calibration.combined(scores)
        return Measured({name: scores[name] for name in names}, x_hat)

    def _reconstruction(
        self, x_hat: np.ndarray, x: np.ndarray, names: Collection[ScoreName]
    ) -> dict[ScoreName, np.ndarray]:
        error = x_hat.astype(np.float64) - x
        scores: dict[ScoreName, np.ndarray] = {}
        if "reconstruction" in names:
            per_pixel = bce(x_hat, x) if self.likelihood.kind == "bce" else error**2
            scores["reconstruction"] = per_pixel.mean(axis=1)
        if "l1" in names:
            scores["l1"] = np.abs(error).mean(axis=1)
        return scores

    def _likelihoods(
        self, codes: Codes, x: np.ndarray, flat: np.ndarray, names: Collection[ScoreName]
    ) -> dict[ScoreName, np.ndarray]:
        assert codes.z_log_var is not None, "the sampled scores are a VAE's"
        z_mean, z_log_var = codes.z_mean, codes.z_log_var
        samples = self.nll_samples if "nll" in names else self.elbo_samples
        z, log_p_x_z = self._sampled(z_mean, z_log_var, flat, max(samples, self.elbo_samples))
        kl = -0.5 * np.sum(1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=1, dtype=np.float64)
        elbo = -log_p_x_z[: self.elbo_samples].mean(axis=0) + kl
        scores: dict[ScoreName, np.ndarray] = {"elbo": elbo}
        if "nll" in names:
            k = self.nll_samples
            log_w = (
                log_p_x_z[:k] + log_normal(z[:k], 0.0, 0.0) - log_normal(z[:k], z_mean, z_log_var)
            )
            scores["nll"] = -(logsumexp(log_w) - math.log(k))
        if "complexity" in names:
            scores["complexity"] = elbo / math.log(2) - png_bits(x, self.scale)
        return scores

    def _sampled(
        self, z_mean: np.ndarray, z_log_var: np.ndarray, flat: np.ndarray, samples: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """z_k = z_mean + sigma * eps_k for the first `samples` eps, [K, N, d], and log p(x|z_k)
        [K, N]."""
        n, d = z_mean.shape
        z = z_mean[None] + np.exp(0.5 * z_log_var)[None] * self.eps[:samples, None, :]
        decoded = self.model.decode(z.reshape(samples * n, d).astype(np.float32))
        return z, self.likelihood.log_p(decoded.reshape(samples, n, -1), flat[None])

    def pixel_map(self, x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
        """|x - x_hat| per pixel, the mean over channels: [N, H, W] in [0, 1]."""
        return np.abs(x_hat.astype(np.float32) - x).mean(axis=1)


def scorer_for(model: OnnxAutoencoder, info: AnomalyInfo) -> Scorer:
    """The scorer a calibration was measured with."""
    return Scorer(model, info.elbo_samples, info.nll_samples, info.seed)


def latent_density(
    samplers: dict[SamplerName, GaussianMixture],
) -> tuple[SamplerName, GaussianMixture]:
    """The density of codes that `latent` uses: the fitted mixture, else what the bundle has."""
    preference: tuple[SamplerName, ...] = ("gmm", "gaussian", "prior")
    for name in preference:
        if name in samplers:
            return name, samplers[name]
    raise ValueError("a bundle offers at least one sampler")


def bce(x_hat: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-pixel binary cross-entropy of probabilities x_hat against targets x."""
    p = np.clip(x_hat.astype(np.float64), BCE_EPS, 1 - BCE_EPS)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


def log_normal(z: np.ndarray, mean: np.ndarray | float, log_var: np.ndarray | float) -> np.ndarray:
    """log N(z; mean, diag(exp(log_var))) over the last axis."""
    z = z.astype(np.float64)
    return -0.5 * np.sum(
        math.log(2 * math.pi) + log_var + (z - mean) ** 2 / np.exp(log_var), axis=-1
    )


def logsumexp(values: np.ndarray) -> np.ndarray:
    """log sum exp over the first axis, stably."""
    top = values.max(axis=0)
    return top + np.log(np.exp(values - top).sum(axis=0))


def png_bits(x: np.ndarray, scale: float) -> np.ndarray:
    """The length in bits of each image's PNG: x [N, C, H, W] back to its uint8 pixels."""
    pixels = np.clip(np.rint(x / scale), 0, 255).astype(np.uint8)
    return np.array([8 * len(_png(image)) for image in pixels], dtype=np.float64)


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    Image.fromarray(array).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()
