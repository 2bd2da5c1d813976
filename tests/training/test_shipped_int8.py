"""The int8 graphs of the bundles committed in models/ (`make quantize-shipped`): each passed the
gate, the gate's figures are measured again from the bundle, and sampling through int8 keeps the
samplers' Fréchet distances within 1% of fp32's (issue 22's quality target)."""

from __future__ import annotations

import pytest

from tests.conftest import MODELS_DIR
from training.classifier import load_feature_network
from training.datasets.splits import DatasetSplits
from training.gate import LIMITS
from training.quality import measure
from training.quantize import remeasure
from vae_core import bundle
from vae_core.graphs import load_autoencoder, session_options
from vae_core.precision import GateFigures, Int8Record

pytestmark = pytest.mark.evaluation

FASHION = ["fashion-ae-2d", "fashion-vae-2d", "fashion-vae-32d"]
SHIPPED = [*FASHION, "faces-vae-200d"]
REPRODUCED = "fashion-vae-2d"  # its samplers are measured again through int8 (10,000 codes each)
SAMPLER_TOLERANCE = 0.01  # int8's sample Fréchet distances within 1% of fp32's


def _record(name: str) -> Int8Record:
    record = bundle.read_manifest(MODELS_DIR / name).int8
    assert record is not None, f"{name} has no int8 graphs (make quantize-shipped)"
    return record


def check_against_recorded(measured: dict[str, GateFigures], name: str) -> None:
    """Figures measured again match the recorded ones (to what another CPU's float parts may
    change), and pass the gate."""
    record = _record(name)
    assert set(measured) == set(record.graphs)
    for graph, figures in measured.items():
        recorded = record.graphs[graph].gate
        assert figures.images == recorded.images and figures.batch_invariant
        assert figures.frechet_distance == pytest.approx(recorded.frechet_distance, abs=5e-3)
        assert figures.same_prediction == pytest.approx(recorded.same_prediction, abs=2e-3)
        assert figures.pixel_difference_p999 == pytest.approx(
            recorded.pixel_difference_p999, abs=2e-3
        )
        assert figures.frechet_distance <= LIMITS["frechet_distance"]
        assert figures.same_prediction >= LIMITS["same_prediction"]
        assert figures.pixel_difference_p999 <= LIMITS["pixel_difference_p999"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_bundle_has_int8_graphs_that_passed_the_gate(name: str) -> None:
    record = _record(name)
    assert record.gate == LIMITS
    assert "decoder" in record.graphs
    for graph in record.graphs.values():
        assert graph.gate.batch_invariant
        assert graph.gate.frechet_distance <= LIMITS["frechet_distance"]
        assert graph.gate.same_prediction >= LIMITS["same_prediction"]
        assert graph.gate.pixel_difference_p999 <= LIMITS["pixel_difference_p999"]
    bundle.read_bundle(MODELS_DIR / name)  # the int8 files match their recorded sha256


@pytest.mark.parametrize("name", SHIPPED)
def test_sampling_through_int8_keeps_every_samplers_frechet_distance_within_1_percent(
    name: str,
) -> None:
    manifest = bundle.read_manifest(MODELS_DIR / name)
    assert manifest.samplers is not None
    fp32 = {s.name: s.frechet_distance for s in manifest.samplers.offered}
    int8 = _record(name).sampler_frechet_distances
    assert set(int8) == set(fp32)
    for sampler, distance in int8.items():
        assert distance == pytest.approx(fp32[sampler], rel=SAMPLER_TOLERANCE), sampler


@pytest.mark.parametrize("name", FASHION)
def test_the_shipped_int8_graphs_reproduce_their_recorded_gate_figures(
    name: str, fashion: DatasetSplits
) -> None:
    check_against_recorded(remeasure(MODELS_DIR / name, fashion), name)


def test_the_int8_samplers_distances_are_measured_again(fashion: DatasetSplits) -> None:
    model = load_autoencoder(MODELS_DIR / REPRODUCED, session_options(threads=2), precision="int8")
    evaluation = model.manifest.evaluation
    assert evaluation is not None
    network = load_feature_network(evaluation.feature_network)
    measured = measure(
        model, model.samplers, fashion.test, network, evaluation.samples_per_sampler,
        evaluation.seed,
    ).sampler_distances  # fmt: skip
    recorded = _record(REPRODUCED).sampler_frechet_distances
    for sampler, distance in measured.items():
        assert distance == pytest.approx(recorded[sampler], rel=2e-3), sampler
