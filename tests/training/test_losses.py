from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from training.losses import autoencoder_loss, reconstruction_loss
from training.models import DiagonalGaussian, ForwardPass

pytestmark = pytest.mark.unit


def test_kl_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    q = DiagonalGaussian(torch.randn(5, 3), torch.randn(5, 3))
    expected = kl_divergence(Normal(q.mean, q.std), Normal(0.0, 1.0)).sum(dim=1)
    torch.testing.assert_close(q.kl(), expected)


def test_kl_is_zero_exactly_at_the_standard_normal() -> None:
    q = DiagonalGaussian(torch.zeros(2, 4), torch.zeros(2, 4))
    assert q.kl().tolist() == [0.0, 0.0]


def test_sample_follows_the_reparameterization_trick() -> None:
    q = DiagonalGaussian(torch.full((1, 2), 1.0), torch.full((1, 2), 2.0))
    eps = torch.randn(1, 2, generator=torch.Generator().manual_seed(7))
    z = q.sample(torch.Generator().manual_seed(7))
    torch.testing.assert_close(z, 1.0 + torch.exp(torch.tensor(1.0)) * eps)
    assert torch.equal(q.mode(), q.mean)


def test_bce_is_summed_over_pixels_not_averaged() -> None:
    logits = torch.zeros(2, 1, 4, 4)  # p = 0.5 everywhere: log 2 nats per pixel
    image = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(
        reconstruction_loss(logits, image, "bce"), torch.full((2,), 16 * 0.6931472)
    )


def test_mse_is_summed_squared_error_of_the_sigmoid_output() -> None:
    logits = torch.zeros(1, 3, 2, 2)
    image = torch.ones(1, 3, 2, 2)
    torch.testing.assert_close(reconstruction_loss(logits, image, "mse"), torch.tensor([12 * 0.25]))


def test_beta_weights_only_the_kl_term() -> None:
    q = DiagonalGaussian(torch.ones(2, 2), torch.zeros(2, 2))  # KL = 0.5 * 2 = 1 per item
    out = ForwardPass(logits=torch.zeros(2, 1, 2, 2), z=q.mean, posterior=q)
    image = torch.zeros(2, 1, 2, 2)
    terms = autoencoder_loss(out, image, beta=3.0, kind="bce")
    torch.testing.assert_close(terms.kl, torch.tensor(1.0))
    torch.testing.assert_close(terms.total, terms.reconstruction + 3.0)


def test_an_autoencoder_has_no_kl_term() -> None:
    out = ForwardPass(logits=torch.zeros(2, 1, 2, 2), z=torch.zeros(2, 2), posterior=None)
    terms = autoencoder_loss(out, torch.zeros(2, 1, 2, 2), beta=1.0, kind="bce")
    assert terms.kl.item() == 0.0
    torch.testing.assert_close(terms.total, terms.reconstruction)
