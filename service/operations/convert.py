"""Request inputs to arrays (uploaded images, codes, seeds) and arrays to reply parts (base64
PNGs, binary pictures)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

import numpy as np

from service import imaging
from service.errors import InvalidInput
from service.schemas.fields import MAX_SEED
from service.schemas.latents import LatentRows, PackedLatents
from vae_core.graphs import OnnxAutoencoder


@dataclass(frozen=True)
class Picture:
    """A binary reply: a PNG or an animated GIF."""

    content: bytes
    media_type: str


def pixels(model: OnnxAutoencoder, images: list[bytes], limits: imaging.ImageLimits) -> np.ndarray:
    """Uploaded images -> the encoder's input batch, preprocessed as in training."""
    return imaging.to_model_input(images, model.manifest.preprocessing, limits)


def checked_codes(model: OnnxAutoencoder, z: LatentRows | PackedLatents) -> np.ndarray:
    """Request codes -> float32 [N, D], 422 unless every vector has the model's latent_dim."""
    if isinstance(z, PackedLatents):
        if z.shape[1] != model.latent_dim:
            raise InvalidInput(
                f"model {model.name!r} takes {model.latent_dim}-d codes; shape is {z.shape}",
                detail={"latent_dim": model.latent_dim, "shape": z.shape},
            )
        return z.rows()
    wrong = [i for i, row in enumerate(z) if len(row) != model.latent_dim]
    if wrong:
        raise InvalidInput(
            f"model {model.name!r} takes {model.latent_dim}-d codes; "
            f"vector {wrong[0]} has {len(z[wrong[0]])} values",
            detail={"latent_dim": model.latent_dim, "wrong_rows": wrong[:16]},
        )
    return np.asarray(z, dtype=np.float32)


def input_codes(
    model: OnnxAutoencoder,
    images: list[bytes] | None,
    z: LatentRows | PackedLatents | None,
    limits: imaging.ImageLimits,
) -> np.ndarray:
    """z_mean of the images, or the given codes (the request schema requires one of the two)."""
    if images is not None:
        return model.encode(pixels(model, images, limits)).z_mean
    assert z is not None
    return checked_codes(model, z)


def base64_pngs(images: np.ndarray) -> list[str]:
    """Model output [N, C, H, W] -> one base64 PNG per image."""
    return [base64.b64encode(blob).decode("ascii") for blob in imaging.pngs(images)]


def seed(requested: int | None) -> int:
    return secrets.randbelow(MAX_SEED + 1) if requested is None else requested


def rng(seed: int) -> np.random.Generator:
    """One generator per request: the same seed always draws the same eps."""
    return np.random.Generator(np.random.PCG64(seed))
