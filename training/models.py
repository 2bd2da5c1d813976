"""Convolutional autoencoders. `encode(x)` gives a code (AE) or a `DiagonalGaussian` (VAE);
`decode(z)` gives an image in [0, 1]. Names follow the book: z_mean, z_log_var, z."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from training.config import ModelConfig


@dataclass
class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(log_var)))."""

    mean: Tensor
    log_var: Tensor

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.log_var)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """The reparameterization trick: z = z_mean + exp(0.5 * z_log_var) * eps, eps ~ N(0, I)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device)
        return self.mean + self.std * eps

    def mode(self) -> Tensor:
        return self.mean

    def kl(self) -> Tensor:
        """KL(q || N(0, I)) per item: -0.5 * sum(1 + z_log_var - z_mean^2 - exp(z_log_var))."""
        return -0.5 * torch.sum(1 + self.log_var - self.mean.pow(2) - self.log_var.exp(), dim=1)


@dataclass
class ForwardPass:
    """What one training forward pass produces."""

    logits: Tensor  # decoder output before the sigmoid
    z: Tensor
    posterior: DiagonalGaussian | None  # None for an AE


def _activation(config: ModelConfig) -> nn.Module:
    return nn.LeakyReLU(0.2) if config.activation == "leaky_relu" else nn.ReLU()


def _norm(config: ModelConfig, width: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(width)] if config.norm == "batch" else []


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convs, each halving the image, then flatten."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        layers: list[nn.Module] = []
        previous = config.channels
        for width in config.widths:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1)]
            layers += [*_norm(config, width), _activation(config)]
            previous = width
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_features = previous * config.bottleneck_size**2

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)


class ConvDecoder(nn.Module):
    """Dense to the bottleneck map, then the encoder's mirror; returns logits."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        side, top = config.bottleneck_size, config.widths[-1]
        dense: list[nn.Module] = [nn.Linear(config.latent_dim, top * side * side)]
        if config.norm == "batch":
            dense += [nn.BatchNorm1d(top * side * side), _activation(config)]
        self.dense = nn.Sequential(*dense, nn.Unflatten(1, (top, side, side)))
        layers: list[nn.Module] = []
        previous = top
        for width in reversed(config.widths):
            layers += [
                _upsample(config, previous, width),
                *_norm(config, width),
                _activation(config),
            ]
            previous = width
        layers.append(nn.Conv2d(previous, config.channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.dense(z))


def _upsample(config: ModelConfig, in_width: int, out_width: int) -> nn.Module:
    if config.upsample == "resize_conv":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(in_width, out_width, 3, padding=1),
        )
    return nn.ConvTranspose2d(in_width, out_width, 3, stride=2, padding=1, output_padding=1)


class Autoencoder(nn.Module):
    """Maps each image to one point z; its latent space has no known distribution."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = ConvEncoder(config)
        self.to_z = nn.Linear(self.encoder.out_features, config.latent_dim)
        self.decoder = ConvDecoder(config)

    def encode(self, image: Tensor) -> Tensor:
        return self.to_z(self.encoder(image))

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, image: Tensor, generator: torch.Generator | None = None) -> ForwardPass:
        z = self.encode(image)
        return ForwardPass(logits=self.decoder(z), z=z, posterior=None)


class VariationalAutoencoder(nn.Module):
    """Maps each image to a diagonal Gaussian q(z|x) and decodes a sample of it."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = ConvEncoder(config)
        self.to_z_mean = nn.Linear(self.encoder.out_features, config.latent_dim)
        self.to_z_log_var = nn.Linear(self.encoder.out_features, config.latent_dim)
        self.decoder = ConvDecoder(config)

    def encode(self, image: Tensor) -> DiagonalGaussian:
        features = self.encoder(image)
        return DiagonalGaussian(self.to_z_mean(features), self.to_z_log_var(features))

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, image: Tensor, generator: torch.Generator | None = None) -> ForwardPass:
        posterior = self.encode(image)
        z = posterior.sample(generator)
        return ForwardPass(logits=self.decoder(z), z=z, posterior=posterior)


AnyAutoencoder = Autoencoder | VariationalAutoencoder


def build_model(config: ModelConfig) -> AnyAutoencoder:
    return VariationalAutoencoder(config) if config.kind == "vae" else Autoencoder(config)
