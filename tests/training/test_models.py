from __future__ import annotations

import dataclasses

import pytest
import torch

from training.config import PRESETS, ModelConfig, config_from_dict
from training.errors import ConfigError
from training.models import Autoencoder, DiagonalGaussian, VariationalAutoencoder, build_model

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_presets_round_trip_an_image_batch(preset: str, kind: str) -> None:
    config = dataclasses.replace(PRESETS[preset], kind=kind)
    model = build_model(config).eval()
    x = torch.rand(3, config.channels, config.image_size, config.image_size)
    code = model.encode(x)
    z = code.mean if isinstance(code, DiagonalGaussian) else code
    assert z.shape == (3, config.latent_dim)
    x_hat = model.decode(z)
    assert x_hat.shape == x.shape
    assert x_hat.min().item() >= 0.0 and x_hat.max().item() <= 1.0


def test_the_book_fashion_architecture_is_the_default() -> None:
    config = ModelConfig()
    assert config.widths == (32, 64, 128) and config.image_size == 32 and config.channels == 1
    assert config.bottleneck_size == 4
    model = build_model(dataclasses.replace(config, kind="ae"))
    assert isinstance(model, Autoencoder)
    convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (32, (3, 3), (2, 2)),
        (64, (3, 3), (2, 2)),
        (128, (3, 3), (2, 2)),
    ]


def test_the_faces_preset_uses_batchnorm_leaky_relu_and_200_dims() -> None:
    model = build_model(PRESETS["faces"])
    assert isinstance(model, VariationalAutoencoder)
    kinds = {type(m) for m in model.modules()}
    assert torch.nn.BatchNorm2d in kinds and torch.nn.LeakyReLU in kinds
    assert model.to_z_mean.out_features == 200


def test_resize_conv_decoder_keeps_the_shapes() -> None:
    config = ModelConfig(upsample="resize_conv")
    model = build_model(config).eval()
    assert model.decode(torch.zeros(2, 2)).shape == (2, 1, 32, 32)


def test_image_size_must_halve_cleanly() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(image_size=30)


def test_unknown_config_keys_are_an_error() -> None:
    with pytest.raises(ConfigError, match="latent_dims"):
        config_from_dict(ModelConfig, {"latent_dims": 3})
