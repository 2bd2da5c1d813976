from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.training.conftest import TINY, tiny_run
from training.datasets.splits import DatasetSplits
from training.errors import TrainingError
from training.evaluate import encode_means
from training.export import PARITY_TOLERANCE, check_parity, export_bundle
from training.rewrites import REWRITE_MIN_SPEEDUP
from training.train import Checkpoint, train
from vae_core import bundle
from vae_core.graphs import load_autoencoder

pytestmark = pytest.mark.slow

SAMPLES = 256  # codes per sampler in export's evaluation: enough for tiny models


@pytest.fixture(scope="module")
def checkpoints(fashion_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    runs = tmp_path_factory.mktemp("runs")
    return {
        kind: train(tiny_run(fashion_dir), dataclasses.replace(TINY, kind=kind), runs / kind, False)
        for kind in ("ae", "vae")
    }


@pytest.fixture(scope="module")
def bundles(
    checkpoints: dict[str, Path],
    small_fashion: DatasetSplits,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("models")
    for kind, ckpt in checkpoints.items():
        export_bundle(ckpt, out / f"tiny-{kind}", data=small_fashion, samples=SAMPLES)
    return {kind: out / f"tiny-{kind}" for kind in checkpoints}


def test_manifest_validates_and_checksums_match(bundles: dict[str, Path]) -> None:
    for kind, path in bundles.items():
        manifest = bundle.read_manifest(path)
        bundle.verify_files(path, manifest)
        assert manifest.kind == kind and manifest.name == path.name
        assert manifest.latent_dim == 2 and manifest.image.height == 32
        assert manifest.preprocessing.pad == 2
        assert set(manifest.files) == {
            bundle.ENCODER,
            bundle.DECODER,
            bundle.ATTRIBUTES,
            *bundle.MAP_FILES,
            bundle.SAMPLERS,
            bundle.ANOMALY,
        }
        assert {"torch", "onnxruntime", "python"} <= set(manifest.software)
        assert manifest.dataset.labels[1] == "Trouser"


def test_export_draws_the_latent_map_of_the_test_set(
    bundles: dict[str, Path], small_fashion: DatasetSplits
) -> None:
    for path in bundles.values():
        read = bundle.read_bundle(path)
        assert read.manifest.latent_map is not None and read.latent_map is not None
        assert read.latent_map.count == len(small_fashion.test) == 512
        assert read.latent_map.projection.kind == "identity"  # a 2-d latent
        np.testing.assert_allclose(read.latent_map.positions, read.latent_map.codes)


def test_vae_metrics_are_in_nats_with_an_nll_estimate(bundles: dict[str, Path]) -> None:
    m = bundle.read_manifest(bundles["vae"]).metrics
    assert m["test_neg_elbo_nats"] == pytest.approx(
        m["test_reconstruction_nats"] + m["test_kl_nats"]
    )
    assert 0 < m["test_nll_is_nats"] <= m["test_neg_elbo_nats"] * 1.01
    assert 0 < m["test_bce_per_pixel"] < 0.7
    assert m["onnx_parity_encoder"] <= 1e-4 and m["onnx_parity_decoder"] <= 1e-4


def test_graphs_have_the_contract_names_a_dynamic_batch_and_no_random_nodes(
    bundles: dict[str, Path],
) -> None:
    for kind, path in bundles.items():
        encoder = onnx.load(path / bundle.ENCODER)
        decoder = onnx.load(path / bundle.DECODER)
        outputs = [o.name for o in encoder.graph.output]
        assert outputs == (["z_mean", "z_log_var"] if kind == "vae" else ["z_mean"])
        assert [i.name for i in decoder.graph.input] == ["z"]
        assert encoder.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        ops = {n.op_type for g in (encoder, decoder) for n in g.graph.node}
        assert not ops & {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike"}


def test_onnx_runs_any_batch_size(bundles: dict[str, Path]) -> None:
    session = ort.InferenceSession(str(bundles["vae"] / bundle.DECODER))
    for n in (1, 7):
        assert session.run(None, {"z": np.zeros((n, 2), np.float32)})[0].shape == (n, 1, 32, 32)


def test_attribute_vectors_are_class_mean_differences(
    bundles: dict[str, Path], checkpoints: dict[str, Path], small_fashion: DatasetSplits
) -> None:
    vectors = bundle.read_attributes(bundles["vae"] / bundle.ATTRIBUTES, 2)
    assert [v.name for v in vectors] == small_fashion.train.label_names
    z = encode_means(
        Checkpoint.load(checkpoints["vae"]).build_model(),
        small_fashion.train,
        small_fashion.preprocessing,
    )
    labels = small_fashion.train.labels
    trouser = vectors[1]
    expected = z[labels == 1].mean(axis=0) - z[labels != 1].mean(axis=0)
    np.testing.assert_allclose(trouser.as_array(), expected, rtol=1e-4, atol=1e-5)
    assert trouser.count_positive == int((labels == 1).sum())
    assert trouser.count_positive + trouser.count_negative == len(labels)
    assert trouser.norm == pytest.approx(float(np.linalg.norm(expected)), rel=1e-4)


def test_autoencoder_stores_its_code_distribution(bundles: dict[str, Path]) -> None:
    prior = bundle.read_manifest(bundles["ae"]).latent_prior
    assert prior.kind == "empirical_gaussian"
    assert prior.mean is not None and prior.cholesky is not None
    cholesky = np.asarray(prior.cholesky)
    assert np.allclose(cholesky, np.tril(cholesky)) and np.all(np.diag(cholesky) > 0)
    assert bundle.read_manifest(bundles["vae"]).latent_prior.kind == "standard_normal"


def test_export_replaces_an_existing_bundle_whole(
    checkpoints: dict[str, Path], small_fashion: DatasetSplits, tmp_path: Path
) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    export_bundle(checkpoints["ae"], target, data=small_fashion, samples=SAMPLES)
    assert not (target / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_parity_check_fails_when_the_graph_disagrees(
    checkpoints: dict[str, Path], bundles: dict[str, Path], small_fashion: DatasetSplits
) -> None:
    model = Checkpoint.load(checkpoints["vae"]).build_model()
    with torch.no_grad():
        model.decoder.net[-1].bias += 0.5  # the exported graph no longer matches this model
    images = small_fashion.preprocessing.to_tensor(small_fashion.test.pixels[:16])
    with pytest.raises(TrainingError, match="disagree"):
        check_parity(model, bundles["vae"], images)


def test_report_draws_every_figure_from_the_bundle(
    bundles: dict[str, Path], fashion_dir: Path, tmp_path: Path
) -> None:
    from training.report import write_report

    paths = write_report(bundles["vae"], tmp_path, str(fashion_dir))
    names = {p.name for p in paths}
    assert {"latent_scatter.png", "reconstructions.png", "samples.png", "latent_grid.png"} <= names
    assert {"interpolation.png", "attribute_sweeps.png", "code_histograms.png"} <= names
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


def test_manifest_records_the_image_size_the_model_sees(bundles: dict[str, Path]) -> None:
    for path in bundles.values():
        manifest = bundle.read_manifest(path)

        assert manifest.training["image_size"] == manifest.architecture["image_size"] == 32
        assert manifest.image.height == manifest.image.width == 32


def test_a_fashion_checkpoint_that_recorded_image_size_64_still_loads_and_exports(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """Runs saved before the image size was resolved from the dataset recorded the old default 64
    for Fashion-MNIST; their models saw 32x32 images. Export reads the real dataset here."""
    saved = torch.load(checkpoints["ae"], weights_only=True)
    saved["train_config"]["image_size"] = 64
    old = tmp_path / "old.pt"
    torch.save(saved, old)

    ckpt = Checkpoint.load(old)
    manifest = export_bundle(old, tmp_path / "old-ae", samples=SAMPLES)

    assert ckpt.train_config.image_size == ckpt.model_config.image_size == 32
    assert manifest.training["image_size"] == manifest.architecture["image_size"] == 32
    assert manifest.dataset.test_size == 10000


def test_export_writes_the_best_epochs_network_and_names_the_epoch(
    checkpoints: dict[str, Path], small_fashion: DatasetSplits, tmp_path: Path
) -> None:
    best = Checkpoint.load(checkpoints["vae"])
    ckpt = dataclasses.replace(best, epoch=2, best_epoch=1, best_model=best.model)
    last = ckpt.build_model()
    with torch.no_grad():
        last.decoder.net[-1].bias += 0.5  # the last epoch's network differs from the best one
    ckpt.model = last.state_dict()
    ckpt.save(tmp_path / "ckpt.pt")

    manifest = export_bundle(tmp_path / "ckpt.pt", tmp_path / "m", data=small_fashion)

    assert (manifest.training["epochs_completed"], manifest.training["exported_epoch"]) == (2, 1)
    decoder = ort.InferenceSession(str(tmp_path / "m" / bundle.DECODER))
    z = np.zeros((1, 2), np.float32)
    with torch.no_grad():
        expected = best.build_model().decode(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(decoder.run(None, {"z": z})[0], expected, atol=1e-5)


def test_export_fits_and_measures_the_samplers_each_kind_offers(
    bundles: dict[str, Path], small_fashion: DatasetSplits
) -> None:
    for kind, path in bundles.items():
        manifest = bundle.read_manifest(path)
        samplers, evaluation = manifest.samplers, manifest.evaluation
        assert samplers is not None and evaluation is not None
        expected = ["prior", "gaussian", "gmm"] if kind == "vae" else ["gaussian", "gmm"]
        assert samplers.names() == expected
        distances = {s.name: s.frechet_distance for s in samplers.offered}
        assert samplers.default == min(distances, key=lambda n: distances[n] or 0.0)
        assert samplers.mixture.held_out_codes == len(small_fashion.val)
        assert evaluation.feature_network == "fashion-mnist"
        assert evaluation.test_images == len(small_fashion.test)
        assert evaluation.samples_per_sampler == SAMPLES
        assert 0 < evaluation.frechet_test_halves < evaluation.frechet_reconstructions


def test_the_loaded_bundle_samples_from_its_recorded_samplers(bundles: dict[str, Path]) -> None:
    for kind, path in bundles.items():
        model = load_autoencoder(path)
        assert list(model.samplers) == model.manifest.samplers.names()  # type: ignore[union-attr]
        for sampler in model.samplers.values():
            z = sampler.sample(5, np.random.default_rng(0), 1.0)
            assert z.shape == (5, 2) and model.decode(z).shape == (5, 1, 32, 32)
        legacy = "prior" if kind == "vae" else "gaussian"  # latent_prior is the same Gaussian
        np.testing.assert_allclose(
            model.prior_sample(9, np.random.default_rng(4), 0.7),
            model.samplers[legacy].sample(9, np.random.default_rng(4), 0.7),
            atol=1e-5,
        )


def test_refitting_the_samplers_keeps_the_graphs_and_repeats_the_figures(
    bundles: dict[str, Path], small_fashion: DatasetSplits, tmp_path: Path
) -> None:
    import shutil

    from training.export import refit_samplers

    copy = tmp_path / "tiny-vae"
    shutil.copytree(bundles["vae"], copy)
    before = bundle.read_manifest(copy)
    after = refit_samplers(copy, small_fashion, samples=SAMPLES)
    for name in (bundle.ENCODER, bundle.DECODER, bundle.ATTRIBUTES):
        assert after.files[name] == before.files[name]
    assert after.samplers == before.samplers
    assert after.evaluation == before.evaluation
    bundle.read_bundle(copy)  # checksums hold


def test_export_checks_the_decoders_exact_rewrite_against_pytorch(bundles: dict[str, Path]) -> None:
    """The rewrite is kept when it measured faster; either way the graph exported matched PyTorch
    within the parity tolerance (check_parity ran on what was written)."""
    metrics = bundle.read_manifest(bundles["vae"]).metrics
    rewritten = "Col2Im" in {
        n.op_type for n in onnx.load(bundles["vae"] / bundle.DECODER).graph.node
    }
    assert rewritten == (metrics["decoder_rewrite_speedup"] >= REWRITE_MIN_SPEEDUP)
    assert metrics["onnx_parity_decoder"] <= PARITY_TOLERANCE


def test_export_with_int8_adds_the_graphs_that_pass_the_gate(
    checkpoints: dict[str, Path], small_fashion: DatasetSplits, tmp_path: Path
) -> None:
    target = tmp_path / "int8"
    manifest = export_bundle(checkpoints["vae"], target, small_fashion, SAMPLES, int8=True)
    assert manifest == bundle.read_bundle(target).manifest  # files checked against their sha256
    assert manifest.int8 is not None and manifest.precisions == ["fp32", "int8"]
    assert {graph.file for graph in manifest.int8.graphs.values()} <= set(manifest.files)
    assert load_autoencoder(target, precision="int8").precision == "int8"
