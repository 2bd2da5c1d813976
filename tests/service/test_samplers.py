"""Sampling through HTTP from every sampler a model offers: the prior (a VAE's N(0, I)), the one
Gaussian fitted to the training codes, and the mixture of Gaussians fitted to them."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from liveserver.server import Server
from tests.service.helpers import assert_error
from vae_core.bundle import read_bundle

pytestmark = pytest.mark.e2e

MODELS = ("fashion-vae-2d", "fashion-vae-32d", "fashion-ae-2d", "faces-vae-200d")


def sample(server: Server, model: str, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/models/{model}/sample", json=body, timeout=60)


@pytest.mark.parametrize("model", MODELS)
def test_every_offered_sampler_draws_codes_of_the_model(
    live_server: Server, model_dir: Path, model: str
) -> None:
    manifest = read_bundle(model_dir / model).manifest
    offered = ["prior", "gaussian", "gmm"] if manifest.kind == "vae" else ["gaussian", "gmm"]
    for name in offered:
        first = sample(live_server, model, n=3, seed=5, sampler=name)
        again = sample(live_server, model, n=3, seed=5, sampler=name)
        assert first.status_code == 200, first.text
        assert first.json()["sampler"] == name and first.json()["note"]
        assert np.asarray(first.json()["z"]).shape == (3, manifest.latent_dim)
        assert len(first.json()["images"]) == 3
        assert first.json() == again.json()


@pytest.mark.parametrize("model", MODELS)
def test_the_model_lists_its_samplers_and_samples_from_its_default(
    live_server: Server, model_dir: Path, model: str
) -> None:
    manifest = read_bundle(model_dir / model).manifest
    detail = httpx.get(f"{live_server.url}/v1/models/{model}", timeout=10).json()
    assert manifest.samplers is not None
    recorded = {s.name: s.frechet_distance for s in manifest.samplers.offered}
    listed = {s["name"]: s["frechet_distance"] for s in detail["samplers"]}
    assert listed == recorded
    assert [s["name"] for s in detail["samplers"] if s["default"]] == [manifest.default_sampler]
    assert detail["default_sampler"] == manifest.default_sampler
    assert detail["evaluation"]["frechet_reconstructions"] > 0
    assert sample(live_server, model, n=1, seed=0).json()["sampler"] == manifest.default_sampler


def test_mixture_samples_of_a_2d_model_fall_where_the_training_codes_are(
    live_server: Server, model_dir: Path
) -> None:
    mixture = read_bundle(model_dir / "fashion-vae-2d").samplers["gmm"]
    codes = {
        name: np.asarray(
            sample(live_server, "fashion-vae-2d", n=256, seed=1, sampler=name).json()["z"]
        )
        for name in ("gmm", "prior")
    }
    likelihood = {name: float(mixture.log_likelihood(z).mean()) for name, z in codes.items()}
    assert likelihood["gmm"] > likelihood["prior"] + 0.5, likelihood


@pytest.mark.parametrize("sampler", ["gaussian", "gmm"])
def test_temperature_zero_draws_the_centres_of_the_fitted_sampler(
    live_server: Server, model_dir: Path, sampler: str
) -> None:
    fitted = read_bundle(model_dir / "fashion-ae-2d").samplers[sampler]
    z = np.asarray(
        sample(live_server, "fashion-ae-2d", n=16, seed=2, sampler=sampler, temperature=0).json()[
            "z"
        ]
    )
    distance = np.linalg.norm(z[:, None] - fitted.means[None].astype(np.float32), axis=2)
    assert distance.min(axis=1).max() < 1e-5


def test_an_autoencoder_offers_no_prior_and_says_which_it_offers(live_server: Server) -> None:
    response = sample(live_server, "fashion-ae-2d", n=2, sampler="prior")
    error = assert_error(response, 422, "invalid_input")
    assert error["detail"] == {"samplers": ["gaussian", "gmm"]}
    assert "gaussian, gmm" in error["message"]


def test_an_unknown_sampler_is_a_422_naming_the_samplers(live_server: Server) -> None:
    response = sample(live_server, "fashion-vae-2d", n=2, sampler="vamp")
    error = assert_error(response, 422, "invalid_input")
    assert "'prior', 'gaussian' or 'gmm'" in error["message"]
