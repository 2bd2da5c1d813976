"""Test-set metrics of a trained model, in nats per image where a likelihood is defined."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from training.config import TrainConfig
from training.datasets.splits import LabeledImages
from training.losses import reconstruction_loss
from training.models import AnyAutoencoder, DiagonalGaussian, VariationalAutoencoder
from vae_core.preprocess import Preprocessing

BCE_EPS = 1e-7  # clamp as Keras does, so per-pixel BCE is comparable with the book's figures


def batches(split: LabeledImages, prep: Preprocessing, size: int = 500) -> Iterator[Tensor]:
    for start in range(0, len(split), size):
        yield torch.from_numpy(prep.to_tensor(split.pixels[start : start + size]))


@torch.no_grad()
def encode_means(model: AnyAutoencoder, split: LabeledImages, prep: Preprocessing) -> np.ndarray:
    """z_mean (or an AE's z) of every image, [N, D]."""
    model.eval()
    return torch.cat([_z_mean(model, x) for x in batches(split, prep)]).numpy()


def _z_mean(model: AnyAutoencoder, x: Tensor) -> Tensor:
    code = model.encode(x)
    return code.mean if isinstance(code, DiagonalGaussian) else code


def bce_per_pixel(x_hat: Tensor, x: Tensor) -> Tensor:
    """Per-image mean binary cross-entropy of probabilities x_hat against targets x."""
    p = x_hat.clamp(BCE_EPS, 1 - BCE_EPS)
    return -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).mean(dim=1)


@torch.no_grad()
def test_metrics(
    model: AnyAutoencoder, split: LabeledImages, prep: Preprocessing, config: TrainConfig
) -> dict[str, float]:
    """z_mean reconstruction per pixel; for a VAE the ELBO terms and an IS estimate of NLL."""
    model.eval()
    generator = torch.Generator().manual_seed(config.seed)
    sums: dict[str, float] = {}
    for x in batches(split, prep):
        for key, values in _batch_metrics(model, x, config, generator).items():
            sums[key] = sums.get(key, 0.0) + float(values.sum())
    metrics = {f"test_{k}": v / len(split) for k, v in sums.items()}
    metrics["test_images"] = float(len(split))
    if isinstance(model, VariationalAutoencoder) and config.reconstruction == "bce":
        metrics["nll_is_samples"] = float(config.nll_samples)
    return metrics


def _batch_metrics(
    model: AnyAutoencoder, x: Tensor, config: TrainConfig, generator: torch.Generator
) -> dict[str, Tensor]:
    code = model.encode(x)
    z_mean = code.mean if isinstance(code, DiagonalGaussian) else code
    x_hat = model.decode(z_mean)
    out = {"mse_per_pixel": (x_hat - x).pow(2).flatten(1).mean(dim=1)}
    if config.reconstruction == "bce":
        out["bce_per_pixel"] = bce_per_pixel(x_hat, x)
    if not isinstance(code, DiagonalGaussian) or not isinstance(model, VariationalAutoencoder):
        return out
    unit = "nats" if config.reconstruction == "bce" else "sse"
    reconstruction = reconstruction_loss(
        model.decoder(code.sample(generator)), x, config.reconstruction
    )
    out[f"reconstruction_{unit}"] = reconstruction
    out["kl_nats"] = code.kl()
    if config.reconstruction == "bce":
        out["neg_elbo_nats"] = reconstruction + code.kl()
        out["nll_is_nats"] = importance_sampled_nll(model, x, code, config.nll_samples, generator)
    return out


def importance_sampled_nll(
    model: VariationalAutoencoder,
    x: Tensor,
    q: DiagonalGaussian,
    samples: int,
    generator: torch.Generator,
) -> Tensor:
    """-log p(x) ~= -(logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K), z_k ~ q."""
    log_w = []
    for _ in range(samples):
        z = q.sample(generator)
        log_px_z = -reconstruction_loss(model.decoder(z), x, "bce")
        log_pz = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_w.append(log_px_z + log_pz - _log_normal(z, q.mean, q.log_var))
    return -(torch.logsumexp(torch.stack(log_w), dim=0) - math.log(samples))


def _log_normal(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    return -0.5 * torch.sum(
        math.log(2 * math.pi) + log_var + (z - mean).pow(2) / log_var.exp(), dim=1
    )
