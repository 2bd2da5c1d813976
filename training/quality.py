"""`python -m training evaluate MODEL_DIR`: how good a bundle is, measured on the real test set
through ONNX Runtime (what the service serves) with a shipped feature network
(`training.classifier`):

- per-pixel BCE and MSE of the decoded z_mean of every test image;
- the feature network's accuracy on those reconstructions;
- the Fréchet distance to the test images' features of the reconstructions, of one half of the
  test set (the floor), and of `samples` decoded codes from each sampler (temperature 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.classifier import FeatureNetwork, feature_network_for
from training.datasets.splits import LabeledImages
from training.errors import ConfigError
from training.frechet import FeatureStatistics, frechet_distance
from vae_core.bundle import Evaluation, Manifest
from vae_core.graphs import OnnxAutoencoder, load_autoencoder, session_options
from vae_core.sampling import GaussianMixture
from vae_core.vocabulary import SamplerName

SAMPLES = 10_000
SEED = 0
BATCH = 500
BCE_EPS = 1e-7  # as training.evaluate clamps
# The evaluation's own figures, beside one Fréchet distance per sampler.
FIGURES = (
    "reconstruction_bce_per_pixel",
    "reconstruction_mse_per_pixel",
    "reconstruction_accuracy",
    "frechet_reconstructions",
    "frechet_test_halves",
)


@dataclass(frozen=True)
class Measurement:
    """An evaluation and the Fréchet distance of each sampler's samples."""

    evaluation: Evaluation
    sampler_distances: dict[SamplerName, float]

    def best_sampler(self) -> SamplerName:
        return min(self.sampler_distances, key=self.sampler_distances.__getitem__)


def encode(model: OnnxAutoencoder, images: np.ndarray) -> np.ndarray:
    """z_mean [N, D] of model input [N, C, H, W], in batches."""
    return np.concatenate(
        [model.encode(images[i : i + BATCH]).z_mean for i in range(0, len(images), BATCH)]
    )


def encode_pixels(model: OnnxAutoencoder, pixels: np.ndarray) -> np.ndarray:
    """z_mean [N, D] of uint8 pixels, made model input (as the bundle preprocesses) a batch at a
    time: as float32, a whole split takes four times its uint8 pixels (8 GB for 160,000 RGB
    images at 64x64, a folder's cache)."""
    prep = model.manifest.preprocessing
    return np.concatenate(
        [encode(model, prep.to_tensor(pixels[i : i + BATCH])) for i in range(0, len(pixels), BATCH)]
    )


def decode(model: OnnxAutoencoder, z: np.ndarray) -> np.ndarray:
    """Images [N, C, H, W] in [0, 1] of codes [N, D], in batches."""
    return np.concatenate([model.decode(z[i : i + BATCH]) for i in range(0, len(z), BATCH)])


def measure(
    model: OnnxAutoencoder,
    samplers: Mapping[SamplerName, GaussianMixture],
    test: LabeledImages,
    network: FeatureNetwork,
    samples: int = SAMPLES,
    seed: int = SEED,
) -> Measurement:
    """Every figure of the evaluation; each sampler draws from its own generator seeded `seed`."""
    x = model.manifest.preprocessing.to_tensor(test.pixels)
    x_hat = decode(model, encode(model, x))
    real = network.features(x)
    reference = FeatureStatistics.of(real)
    half = len(x) // 2

    def distance(images: np.ndarray) -> float:
        return frechet_distance(FeatureStatistics.of(network.features(images)), reference)

    evaluation = Evaluation(
        feature_network=network.name,
        feature_network_sha256=network.sha256,
        feature_network_accuracy=network.test_accuracy,
        test_images=len(x),
        samples_per_sampler=samples,
        seed=seed,
        reconstruction_bce_per_pixel=bce_per_pixel(x_hat, x),
        reconstruction_mse_per_pixel=float(np.mean((x_hat - x) ** 2, dtype=np.float64)),
        reconstruction_accuracy=network.accuracy(x_hat, test),
        frechet_reconstructions=distance(x_hat),
        frechet_test_halves=frechet_distance(
            FeatureStatistics.of(real[:half]), FeatureStatistics.of(real[half:])
        ),
    )
    distances: dict[SamplerName, float] = {
        name: distance(decode(model, sampler.sample(samples, np.random.default_rng(seed), 1.0)))
        for name, sampler in samplers.items()
    }
    return Measurement(evaluation, distances)


def bce_per_pixel(x_hat: np.ndarray, x: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities x_hat against targets x, over every pixel."""
    p = np.clip(x_hat.astype(np.float64), BCE_EPS, 1 - BCE_EPS)
    return float(np.mean(-(x * np.log(p) + (1 - x) * np.log(1 - p))))


def evaluate_bundle(
    model_dir: Path, test: LabeledImages, samples: int = SAMPLES, seed: int = SEED
) -> str:
    """Measure a bundle as `record_samplers` did and compare with what it records: a table."""
    model = load_autoencoder(model_dir, session_options(threads=2))
    manifest = model.manifest
    network = feature_network_for(manifest.dataset.name, manifest.image_shape)
    if network is None:
        shape = manifest.image_shape
        raise ConfigError(f"no feature network measures {manifest.dataset.name} images {shape}")
    measured = measure(model, model.samplers, test, network, samples, seed)
    return figure_table(figures(manifest), measured_figures(measured))


def figures(manifest: Manifest) -> dict[str, float | None]:
    """The figures a manifest records, by name (None: not measured)."""
    recorded: dict[str, float | None] = {}
    if manifest.evaluation is not None:
        recorded |= {k: v for k, v in manifest.evaluation.model_dump().items() if k in FIGURES}
    if manifest.samplers is not None:
        recorded |= {f"frechet_{s.name}": s.frechet_distance for s in manifest.samplers.offered}
    return recorded


def measured_figures(measured: Measurement) -> dict[str, float | None]:
    evaluation = measured.evaluation.model_dump()
    return {k: evaluation[k] for k in FIGURES} | {
        f"frechet_{name}": value for name, value in measured.sampler_distances.items()
    }


def figure_table(recorded: dict[str, float | None], measured: dict[str, float | None]) -> str:
    rows = [f"{'figure':<32} {'recorded':>12} {'measured':>12}"]
    for name in recorded | measured:
        values = (_number(recorded.get(name)), _number(measured.get(name)))
        rows.append(f"{name:<32} {values[0]:>12} {values[1]:>12}")
    return "\n".join(rows)


def describe(manifest: Manifest) -> str:
    """What a bundle records about its samplers and its evaluation, as a table."""
    default = f"default sampler: {manifest.default_sampler}"
    components = manifest.samplers.mixture.components if manifest.samplers else None
    return f"{default}; mixture of {components}\n" + figure_table(figures(manifest), {})


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"
