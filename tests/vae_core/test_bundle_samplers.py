"""How a bundle records its samplers: the manifest's rules, and read_bundle's checks of
samplers.npz against the manifest (on copies of a shipped bundle)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import MODELS_DIR
from vae_core import bundle
from vae_core.errors import BundleInvalid
from vae_core.graphs import load_autoencoder

pytestmark = pytest.mark.unit

VAE, AE = MODELS_DIR / "fashion-vae-2d", MODELS_DIR / "fashion-ae-2d"


def manifest_fields(path: Path) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads((path / bundle.MANIFEST).read_text())
    return fields


def with_distances(fields: dict[str, Any], distances: dict[str, float]) -> dict[str, Any]:
    for sampler in fields["samplers"]["offered"]:
        sampler["frechet_distance"] = distances[sampler["name"]]
    return fields


def test_the_default_must_be_the_lowest_frechet_distance_when_all_are_measured() -> None:
    fields = with_distances(manifest_fields(VAE), {"prior": 3.0, "gaussian": 2.0, "gmm": 1.0})
    fields["samplers"]["default"] = "gmm"
    assert bundle.Manifest.model_validate(fields).default_sampler == "gmm"
    fields["samplers"]["default"] = "prior"
    with pytest.raises(ValidationError, match="lowest Fréchet distance"):
        bundle.Manifest.model_validate(fields)


def test_a_vae_offers_the_prior_and_an_ae_does_not(tmp_path: Path) -> None:
    vae, ae = tmp_path / VAE.name, tmp_path / AE.name
    shutil.copytree(VAE, vae), shutil.copytree(AE, ae)
    fields = manifest_fields(vae)
    offered = fields["samplers"]["offered"]
    fields["samplers"]["offered"] = [s for s in offered if s["name"] != "prior"]
    fields["samplers"]["default"] = "gmm"  # the lowest of the two left
    (vae / bundle.MANIFEST).write_text(json.dumps(fields))
    fields = manifest_fields(ae)
    fields["samplers"]["offered"].append({"name": "prior", "frechet_distance": None})
    (ae / bundle.MANIFEST).write_text(json.dumps(fields))
    for path in (vae, ae):
        with pytest.raises(BundleInvalid, match="VAE offers the prior"):
            load_autoencoder(path)


def test_an_unknown_sampler_name_is_refused() -> None:
    fields = manifest_fields(VAE)
    fields["samplers"]["offered"][0]["name"] = "flow"
    with pytest.raises(ValidationError, match="prior"):
        bundle.Manifest.model_validate(fields)


def test_a_manifest_without_samplers_offers_its_latent_prior(tmp_path: Path) -> None:
    """A bundle written before samplers existed loads: a VAE's N(0, I), an AE's Gaussian."""
    for source, expected in ((VAE, "prior"), (AE, "gaussian")):
        copy = tmp_path / source.name
        shutil.copytree(source, copy)
        fields = manifest_fields(copy)
        fields.pop("samplers"), fields.pop("evaluation")
        fields["files"].pop(bundle.SAMPLERS)
        (copy / bundle.SAMPLERS).unlink()
        (copy / bundle.MANIFEST).write_text(json.dumps(fields))
        loaded = bundle.read_bundle(copy)
        assert list(loaded.samplers) == [expected] and loaded.manifest.default_sampler == expected


def test_a_mixture_that_disagrees_with_the_manifest_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / VAE.name
    shutil.copytree(VAE, copy)
    fields = manifest_fields(copy)
    fields["samplers"]["mixture"]["components"] += 1
    (copy / bundle.MANIFEST).write_text(json.dumps(fields))
    with pytest.raises(BundleInvalid, match="components"):
        bundle.read_bundle(copy)


def test_offered_samplers_need_the_samplers_file_listed(tmp_path: Path) -> None:
    copy = tmp_path / VAE.name
    shutil.copytree(VAE, copy)
    fields = manifest_fields(copy)
    fields["files"].pop(bundle.SAMPLERS)
    (copy / bundle.MANIFEST).write_text(json.dumps(fields))
    with pytest.raises(BundleInvalid, match=r"files lists no samplers\.npz"):
        bundle.read_bundle(copy)
