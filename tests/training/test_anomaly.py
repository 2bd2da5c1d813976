"""Anomaly scores and their calibration on tiny bundles trained on real Fashion-MNIST: each score
against a direct computation in torch and scipy on the network that was exported, the calibration
file against the graphs, the evaluation's parts (sets, defects, the default's choice)."""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from tests.training.conftest import TINY, tiny_run
from training.anomaly import (
    auroc_standard_error,
    best_score,
    calibrate,
    ood_figures,
    remove_calibration,
)
from training.config import CalibrationConfig
from training.datasets.ood import OOD_SETS, mnist_digits, ood_sets
from training.datasets.splits import DatasetSplits
from training.defects import add_defects
from training.evaluate import bce_per_pixel
from training.export import export_bundle
from training.losses import reconstruction_loss
from training.models import VariationalAutoencoder
from training.train import Checkpoint, train
from vae_core import anomaly, bundle
from vae_core.calibration import (
    ANOMALY,
    AnomalyInfo,
    OodFigures,
    ScoreRecord,
    leave_one_out_combined,
)
from vae_core.graphs import load_autoencoder
from vae_core.preprocess import Preprocessing

pytestmark = pytest.mark.slow

SETTINGS = CalibrationConfig(elbo_samples=3, nll_samples=5, seed=1, ood_images=64)


@pytest.fixture(scope="module")
def exported(
    fashion_dir: Path, small_fashion: DatasetSplits, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Path]]:
    """(checkpoint, bundle) of a tiny VAE, a tiny AE, and a tiny VAE trained with MSE."""
    runs, models = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("models")
    variants = {
        "vae": (TINY, {}),
        "ae": (dataclasses.replace(TINY, kind="ae"), {}),
        "mse": (TINY, {"reconstruction": "mse", "beta": 0.5}),
    }
    out = {}
    for name, (model_config, run) in variants.items():
        ckpt = train(tiny_run(fashion_dir, **run), model_config, runs / name, False)
        export_bundle(ckpt, models / name, data=small_fashion, samples=256, calibration=SETTINGS)
        out[name] = (ckpt, models / name)
    return out


def torch_network(ckpt: Path) -> VariationalAutoencoder:
    model = Checkpoint.load(ckpt).build_best_model()
    assert isinstance(model, VariationalAutoencoder)
    return model.eval()


def images(split: DatasetSplits, count: int = 8) -> np.ndarray:
    return split.preprocessing.to_tensor(split.test.pixels[:count])


@torch.no_grad()
def test_vae_scores_match_a_direct_computation_on_the_exported_network(
    exported: dict[str, tuple[Path, Path]], small_fashion: DatasetSplits
) -> None:
    ckpt, path = exported["vae"]
    onnx_model = load_autoencoder(path)
    scorer = anomaly.Scorer(onnx_model, elbo_samples=3, nll_samples=5, seed=1)
    x = images(small_fashion)
    measured = scorer.measure(x, scorer.offered).scores

    network, xt = torch_network(ckpt), torch.from_numpy(x)
    q = network.encode(xt)
    x_hat = network.decode(q.mean)
    assert measured["reconstruction"] == pytest.approx(bce_per_pixel(x_hat, xt).numpy(), rel=1e-4)
    assert measured["l1"] == pytest.approx((x_hat - xt).abs().flatten(1).mean(1).numpy(), rel=1e-4)

    eps = torch.from_numpy(scorer.eps)  # the K fixed noise vectors, the same for every image
    z = q.mean[None] + q.std[None] * eps[:, None]  # [K, N, d]
    log_px_z = torch.stack([-reconstruction_loss(network.decoder(zk), xt, "bce") for zk in z])
    elbo = -log_px_z[:3].mean(0) + q.kl()
    assert measured["elbo"] == pytest.approx(elbo.numpy(), rel=1e-4)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    posterior = torch.distributions.Normal(q.mean, q.std).log_prob(z).sum(-1)
    nll = -(torch.logsumexp(log_px_z + prior - posterior, 0) - math.log(5))
    assert measured["nll"] == pytest.approx(nll.numpy(), rel=1e-4)

    pngs = [png_length(image) for image in x]
    assert measured["complexity"] == pytest.approx(elbo.numpy() / math.log(2) - pngs, rel=1e-4)
    assert measured["latent"] == pytest.approx(
        -mixture_log_density(onnx_model, q.mean.numpy()), rel=1e-6
    )


def png_length(image: np.ndarray) -> int:
    buffer = io.BytesIO()
    Image.fromarray(np.rint(image[0] * 255).astype(np.uint8)).save(
        buffer, format="PNG", compress_level=9
    )
    return 8 * len(buffer.getvalue())


def mixture_log_density(model: object, z: np.ndarray) -> np.ndarray:
    """log Σ_k w_k N(z; μ_k, L_k L_kᵀ) by scipy, from the bundle's fitted mixture."""
    gmm = model.samplers["gmm"]  # type: ignore[attr-defined]
    parts = [
        math.log(w) + multivariate_normal(mean, cholesky @ cholesky.T).logpdf(z)
        for w, mean, cholesky in zip(gmm.weights, gmm.means, gmm.cholesky, strict=True)
    ]
    return logsumexp(np.stack(parts), axis=0)


@torch.no_grad()
def test_an_mse_model_scores_under_the_gaussian_its_loss_implies(
    exported: dict[str, tuple[Path, Path]], small_fashion: DatasetSplits
) -> None:
    ckpt, path = exported["mse"]
    scorer = anomaly.Scorer(load_autoencoder(path), elbo_samples=3, nll_samples=5, seed=1)
    x = images(small_fashion)
    measured = scorer.measure(x, ["reconstruction", "elbo"]).scores

    network, xt = torch_network(ckpt), torch.from_numpy(x)
    q = network.encode(xt)
    assert measured["reconstruction"] == pytest.approx(
        (network.decode(q.mean) - xt).pow(2).flatten(1).mean(1).numpy(), rel=1e-4
    )
    beta, pixels = 0.5, x[0].size  # N(x_hat, beta / 2): -log p = SSE / beta + D/2 log(pi beta)
    z = q.mean[None] + q.std[None] * torch.from_numpy(scorer.eps[:3])[:, None]
    sse = torch.stack([(network.decode(zk) - xt).pow(2).flatten(1).sum(1) for zk in z])
    neg_log_p = sse / beta + pixels / 2 * math.log(math.pi * beta)
    assert measured["elbo"] == pytest.approx((neg_log_p.mean(0) + q.kl()).numpy(), rel=1e-4)


def test_an_autoencoder_offers_the_scores_without_a_posterior(
    exported: dict[str, tuple[Path, Path]], small_fashion: DatasetSplits
) -> None:
    manifest = bundle.read_manifest(exported["ae"][1])
    assert manifest.anomaly is not None
    assert manifest.anomaly.names() == ["combined", "latent", "reconstruction", "l1"]
    assert manifest.anomaly.combination == {"latent": 0.98, "reconstruction": 0.02}
    model = load_autoencoder(exported["ae"][1])
    assert model.calibration is not None
    scorer = anomaly.scorer_for(model, model.calibration.info)
    scores = scorer.measure(images(small_fashion), ["combined"], model.calibration).scores
    assert scores["combined"].shape == (8,) and np.all(np.isfinite(scores["combined"]))


def test_a_score_depends_on_the_image_alone_not_on_its_batch(
    exported: dict[str, tuple[Path, Path]], small_fashion: DatasetSplits
) -> None:
    model = load_autoencoder(exported["vae"][1])
    scorer = anomaly.Scorer(model, elbo_samples=3, nll_samples=5, seed=1)
    x = images(small_fashion, 6)
    together = scorer.measure(x, scorer.offered).scores
    for i in (0, 5):
        alone = scorer.measure(x[i : i + 1], scorer.offered).scores
        for name, values in together.items():
            assert alone[name][0] == pytest.approx(values[i], rel=1e-5), name


def test_the_stored_validation_scores_are_the_graphs_scores_in_split_order(
    exported: dict[str, tuple[Path, Path]], small_fashion: DatasetSplits
) -> None:
    path = exported["vae"][1]
    model = load_autoencoder(path)
    assert model.calibration is not None
    info = model.calibration.info
    assert (info.elbo_samples, info.nll_samples, info.seed) == (3, 5, 1)
    assert info.validation_images == len(small_fashion.val)
    stored = np.load(path / ANOMALY)
    x = small_fashion.preprocessing.to_tensor(small_fashion.val.pixels[:16])
    components = [name for name in info.names() if name != "combined"]
    measured = anomaly.scorer_for(model, info).measure(x, components).scores
    for name in components:
        assert measured[name] == pytest.approx(stored[name][:16], rel=1e-5), name
    # The combination's validation values count each image as its own (leave-one-out).
    parts = {name: stored[name] for name in info.combination}
    assert stored["combined"] == pytest.approx(
        leave_one_out_combined(info.combination, parts, 0.01)
    )


def test_calibrate_adds_a_calibration_to_a_bundle_without_one(
    exported: dict[str, tuple[Path, Path]], small_fashion: DatasetSplits, tmp_path: Path
) -> None:
    import shutil

    target = tmp_path / "plain"
    shutil.copytree(exported["vae"][1], target)
    remove_calibration(target)
    assert load_autoencoder(target).calibration is None

    calibrated = calibrate(target, small_fashion, CalibrationConfig(ood_images=0))
    assert calibrated.anomaly is not None and calibrated.anomaly.test_images == 0
    assert calibrated.anomaly.default_score == "combined"  # nothing measured: the combination
    model = load_autoencoder(target)  # checksums and the file verified on load
    assert model.calibration is not None and model.calibration.size == len(small_fashion.val)
    assert calibrated.files[ANOMALY] == bundle.checksums(target)[ANOMALY]


def test_the_evaluation_records_every_score_against_every_set(
    exported: dict[str, tuple[Path, Path]], small_fashion: DatasetSplits
) -> None:
    info = bundle.read_manifest(exported["vae"][1]).anomaly
    assert info is not None
    assert info.ood_sets == dict.fromkeys(OOD_SETS, 64)
    assert info.test_images == len(small_fashion.test)
    for record in info.scores:
        assert set(record.ood) == set(OOD_SETS), record.name
        assert set(record.realised_fpr) == {"0.01", "0.05"}
    assert info.pixel_map.defects == 512 and set(info.pixel_map.pixel_auroc) == {"abs_error", "bce"}
    # Measured again, directly: the same figures.
    model = load_autoencoder(exported["vae"][1])
    assert model.calibration is not None
    scorer = anomaly.scorer_for(model, info)
    prep = small_fashion.preprocessing
    sets = ood_sets(small_fashion.test.pixels, prep, size=64, seed=1)
    for name, set_name in (("elbo", "noise"), ("combined", "mnist"), ("latent", "hflip")):
        normal, outliers = (
            scorer.measure(prep.to_tensor(pixels), [name], model.calibration).scores[name]
            for pixels in (small_fashion.test.pixels, sets[set_name])
        )
        assert ood_figures(normal, outliers) == info.record(name).ood[set_name]


def test_the_default_score_is_the_best_worst_case_ties_broken_by_the_mean(
    exported: dict[str, tuple[Path, Path]],
) -> None:
    info = bundle.read_manifest(exported["vae"][1]).anomaly
    assert info is not None

    def record(name: str, *aurocs: float) -> ScoreRecord:
        figures = {f"set{i}": OodFigures(auroc=a, fpr_at_95_tpr=0.5) for i, a in enumerate(aurocs)}
        return ScoreRecord(name=name, unit="nats", ood=figures)  # type: ignore[arg-type]

    def with_records(*records: ScoreRecord) -> AnomalyInfo:
        sizes = {"set0": 5000, "set1": 5000}
        listed = [ScoreRecord(name="combined", unit="x"), *records]
        return info.model_copy(update={"scores": listed, "ood_sets": sizes, "test_images": 10000})

    best = with_records(
        record("latent", 0.99, 0.6), record("elbo", 0.9, 0.8), record("l1", 0.95, 0.7)
    )
    assert best_score(best) == "elbo"  # the best worst case
    # 0.707 and 0.706 on 5,000 against 10,000 differ by less than one standard error (~0.005):
    # a tie, which the better mean breaks.
    tie = with_records(record("latent", 0.999, 0.707), record("elbo", 0.999, 0.706, 1.0))
    assert best_score(tie) == "elbo"
    assert (
        best_score(info.model_copy(update={"scores": [ScoreRecord(name="combined", unit="x")]}))
        == "combined"
    )
    assert auroc_standard_error(0.707, 5000, 10000) == pytest.approx(0.0048, abs=0.0005)


def test_ood_figures_are_auroc_and_the_false_positives_at_95_percent_detected() -> None:
    normal = np.arange(100.0)
    outliers = np.arange(50.0, 150.0)  # half overlap
    figures = ood_figures(normal, outliers)
    assert figures.auroc == pytest.approx(0.875, abs=0.001)
    # 95% of outliers lie at or above 55: normal images 55..99 are flagged, 45 of 100.
    assert figures.fpr_at_95_tpr == pytest.approx(0.45, abs=0.011)


def test_the_ood_sets_are_what_their_names_say(small_fashion: DatasetSplits) -> None:
    test = small_fashion.test.pixels[:40]
    sets = ood_sets(test, small_fashion.preprocessing, size=32, seed=0)
    assert all(
        images.shape == (32, 28, 28) and images.dtype == np.uint8 for images in sets.values()
    )
    assert np.array_equal(sets["hflip"][3], test[3][:, ::-1])
    assert np.array_equal(sets["vflip"][3], test[3][::-1])
    assert np.array_equal(sets["inverted"], 255 - test[:32])
    assert all(len(np.unique(image)) == 1 for image in sets["constant"])
    assert len(np.unique(sets["constant"][:, 0, 0])) > 20
    assert sets["noise"].std() > 60
    assert np.array_equal(sets["mnist"], mnist_digits()[:32])


def test_mnist_digits_are_real_and_take_any_bundles_form() -> None:
    digits = mnist_digits()
    assert digits.shape == (5000, 28, 28) and digits.dtype == np.uint8
    # Real handwriting: a dark background, a few bright strokes, every image different.
    assert 0.1 < np.mean(digits > 128) < 0.25 and len({d.tobytes() for d in digits}) == 5000
    rgb = Preprocessing(color_mode="RGB", resize=(64, 64), crop="center_square")
    faces_like = np.zeros((4, 64, 64, 3), np.uint8)
    digits_rgb = ood_sets(faces_like, rgb, size=4, seed=0)["mnist"]
    assert digits_rgb.shape == (4, 64, 64, 3)
    assert np.array_equal(digits_rgb[..., 0], digits_rgb[..., 2])  # grey in RGB


def test_each_synthetic_defect_changes_the_pixels_its_mask_marks(
    small_fashion: DatasetSplits,
) -> None:
    clean = small_fashion.test.pixels[:30]
    damaged, masks = add_defects(clean, seed=0)
    changed = damaged != clean
    assert np.array_equal(changed, masks)
    assert all(masks[i].any() for i in range(30))
    assert np.all(damaged[1::3][masks[1::3]] == 0)  # every third defect is a hole
    assert masks.reshape(30, -1).sum(1).max() < 0.1 * 28 * 28
