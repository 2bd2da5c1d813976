"""Losses, summed over pixels per image (the book notes that averaging over pixels blurs)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from training.models import ForwardPass
from vae_core.vocabulary import Reconstruction


@dataclass
class LossTerms:
    """Batch means per image: total = reconstruction + beta * kl."""

    total: Tensor
    reconstruction: Tensor
    kl: Tensor


def reconstruction_loss(logits: Tensor, image: Tensor, kind: Reconstruction) -> Tensor:
    """Per image: BCE = -sum(x log x_hat + (1 - x) log(1 - x_hat)), or MSE = sum((x - x_hat)^2)."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, image, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - image).pow(2)
    return per_pixel.flatten(1).sum(dim=1)


def autoencoder_loss(
    out: ForwardPass, image: Tensor, beta: float, kind: Reconstruction
) -> LossTerms:
    """-ELBO with a beta weight: recon + beta * KL, where for a VAE
    KL = -0.5 * sum(1 + z_log_var - z_mean^2 - exp(z_log_var)); an AE has no KL term."""
    reconstruction = reconstruction_loss(out.logits, image, kind).mean()
    kl = (
        out.posterior.kl().mean()
        if out.posterior is not None
        else torch.zeros((), device=image.device)
    )
    return LossTerms(total=reconstruction + beta * kl, reconstruction=reconstruction, kl=kl)
