"""The quality gate an int8 graph must pass to be written: its images against the fp32 graph's on
the same held-out inputs, in the feature network's eyes and pixel by pixel, and the same output
for an input whatever batch it runs in (the service's batcher merges requests).

A decoder's images are its outputs; an encoder's are the fp32 decoder's images of its codes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.classifier import FeatureNetwork
from training.frechet import FeatureStatistics, frechet_distance
from vae_core.precision import GateFigures

Outputs = dict[str, np.ndarray]
# The limits: the most Fréchet distance and pixel difference, the least agreement.
MAX_FRECHET_DISTANCE = 0.1
MIN_SAME_PREDICTION = 0.99
MAX_PIXEL_DIFFERENCE_P999 = 0.05
LIMITS = {
    "frechet_distance": MAX_FRECHET_DISTANCE,
    "same_prediction": MIN_SAME_PREDICTION,
    "pixel_difference_p999": MAX_PIXEL_DIFFERENCE_P999,
}
INVARIANCE_ROWS = 64
INVARIANCE_BATCHES = (7, 32, 64)  # odd, the service's rows per run, the batcher's default


def figures(
    int8_images: np.ndarray, fp32_images: np.ndarray, network: FeatureNetwork, invariant: bool
) -> GateFigures:
    """How close the int8 images are to the fp32 images of the same inputs."""
    features = network.features(int8_images), network.features(fp32_images)
    difference = np.abs(int8_images.astype(np.float64) - fp32_images)
    same = network.predict(int8_images) == network.predict(fp32_images)
    return GateFigures(
        images=len(fp32_images),
        frechet_distance=frechet_distance(*(FeatureStatistics.of(f) for f in features)),
        same_prediction=float(same.mean()),
        pixel_difference_p999=float(np.percentile(difference, 99.9)),
        pixel_difference_max=float(difference.max()),
        pixel_difference_mean=float(difference.mean()),
        batch_invariant=invariant,
    )


def failures(measured: GateFigures) -> list[str]:
    """Each limit the figures miss, in words; empty when the graph passes."""
    missed = []
    if measured.frechet_distance > MAX_FRECHET_DISTANCE:
        missed.append(
            f"Fréchet distance to the fp32 images {measured.frechet_distance:.4f} > "
            f"{MAX_FRECHET_DISTANCE}"
        )
    if measured.same_prediction < MIN_SAME_PREDICTION:
        missed.append(
            f"classified the same {measured.same_prediction:.2%} < {MIN_SAME_PREDICTION:.0%}"
        )
    if measured.pixel_difference_p999 > MAX_PIXEL_DIFFERENCE_P999:
        missed.append(
            f"99.9th percentile pixel difference {measured.pixel_difference_p999:.4f} > "
            f"{MAX_PIXEL_DIFFERENCE_P999}"
        )
    if not measured.batch_invariant:
        missed.append("an output depends on the other inputs of its batch")
    return missed


def batch_invariant(run: Callable[[np.ndarray], Outputs], inputs: np.ndarray) -> bool:
    """Whether each of the first INVARIANCE_ROWS inputs gives bit-identical outputs alone and in
    batches of each INVARIANCE_BATCHES size."""
    rows = np.ascontiguousarray(inputs[:INVARIANCE_ROWS], np.float32)
    alone = _joined([run(rows[i : i + 1]) for i in range(len(rows))])
    for size in INVARIANCE_BATCHES:
        batched = _joined([run(rows[i : i + size]) for i in range(0, len(rows), size)])
        if any(not np.array_equal(alone[name], batched[name]) for name in alone):
            return False
    return True


def _joined(parts: list[Outputs]) -> Outputs:
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
