"""A bundle's anomaly calibration: the scores of its validation images (`anomaly.npz`) and what
model.json records about them (`AnomalyInfo`), so that any image gets an empirical p-value and a
verdict at any false-positive rate, without retraining.

For a score s with validation values v_1..v_n (normal images the model never trained on):

- p-value: p(s) = (1 + #{v_i >= s}) / (n + 1), the share of validation images scoring at least as
  high with the image itself counted (conformal: a normal image's p-value is uniform, so
  P(p <= alpha) <= alpha, and it is never 0);
- at a false-positive rate alpha, an image is anomalous when p(s) <= alpha, which is the same as
  s > t_alpha, t_alpha the validation score with m = floor(alpha (n + 1)) - 1 values above it;
  alpha must be at least 1 / (n + 1);
- an explicit threshold t flags s > t, and implies the rate #{v_i > t} / n.

The `combined` score is T = max_i (log w_i - log p~_i), over the component scores i with weights
w_i summing to 1 (a weighted Bonferroni combination: the first score carries most of the weight,
the others act as guards), p~_i the component's p-value with an exponential tail past its top
`tail` share of validation values, so a score far beyond anything seen counts as strong evidence.
T's own validation values are computed leave-one-out, and its p-value is the same formula as any
other score's: its rate is as calibrated.

A bundle with int8 graphs is calibrated at each precision (`AnomalyInfo.precisions`): its int8
graphs give slightly different scores, so a model serving at int8 reads its p-values against the
validation scores its own graphs gave. anomaly.npz holds fp32's arrays under the score's name and
another precision's under `<precision>/<score>`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from vae_core.errors import BundleInvalid
from vae_core.files import write_bytes_atomic
from vae_core.frozen import Record
from vae_core.vocabulary import Precision, SamplerName, ScoreName

ANOMALY = "anomaly.npz"
COMBINED: ScoreName = "combined"
DEFAULT_FPR = 0.05
MAX_FPR = 0.5
TAIL = 0.01  # the share of validation values whose mean excess sets an exponential tail
MIN_TAIL_POINTS = 10
MIN_VALIDATION = 20


class OodFigures(Record):
    """How well a score tells the test images from one out-of-distribution set."""

    auroc: float = Field(ge=0, le=1, description="Area under the ROC curve (0.5: chance).")
    fpr_at_95_tpr: float = Field(
        ge=0, le=1, description="Share of test images flagged at the threshold that flags 95% "
        "of the set.",
    )  # fmt: skip


class ScoreRecord(Record):
    """One score a bundle offers, with what its evaluation measured."""

    name: ScoreName
    unit: str = Field(description="The score's unit, e.g. nats or bits.")
    ood: dict[str, OodFigures] = Field(
        default_factory=dict, description="Out-of-distribution set -> figures (evaluation)."
    )
    realised_fpr: dict[str, float] = Field(
        default_factory=dict,
        description="Requested false-positive rate -> the share of the test images flagged at "
        "the calibrated threshold.",
    )


class PixelMapInfo(Record):
    """The per-pixel map and how well it finds synthetic defects."""

    quantity: str = Field(description="What a map pixel is.")
    defects: int = Field(ge=0, description="Test images given a synthetic defect to measure it.")
    pixel_auroc: dict[str, float] = Field(
        default_factory=dict,
        description="Candidate per-pixel quantity -> AUROC of its pixels against the defect mask.",
    )


class AnomalyInfo(Record):
    """What model.json records about a bundle's anomaly scores (`python -m training calibrate`)."""

    default_score: ScoreName = Field(description="Used when a request names no score.")
    default_fpr: float = Field(gt=0, le=MAX_FPR, description="Used when a request sets no rate.")
    elbo_samples: int = Field(ge=1, description="K of elbo and complexity: posterior samples.")
    nll_samples: int = Field(ge=1, description="K of nll: importance samples.")
    seed: int = Field(ge=0, description="Seed of the fixed noise vectors eps_k.")
    likelihood: str = Field(description="p(x|z), as the model was trained.")
    latent_density: SamplerName = Field(description="The sampler whose density `latent` is.")
    compressor: str = Field(description="The lossless compressor of `complexity`.")
    combination: dict[ScoreName, float] = Field(
        description="Weights w_i of the component scores of `combined` (sum 1)."
    )
    tail: float = Field(gt=0, lt=1, description="Share of validation values setting each tail.")
    validation_images: int = Field(ge=MIN_VALIDATION)
    test_images: int = Field(ge=0, description="Test images of the evaluation; 0: not measured.")
    ood_sets: dict[str, int] = Field(
        default_factory=dict, description="Out-of-distribution set -> images in it."
    )
    pixel_map: PixelMapInfo
    scores: list[ScoreRecord]
    precisions: list[Precision] = Field(
        default=["fp32"],
        description="The precisions whose graphs scored the validation images (anomaly.npz).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AnomalyInfo:
        names = self.names()
        if len(set(names)) != len(names) or COMBINED not in names:
            raise ValueError(f"scores {names}: need combined, each score once")
        if self.default_score not in names:
            raise ValueError(f"default score {self.default_score!r} is not offered")
        if not set(self.combination) <= set(names) - {COMBINED}:
            raise ValueError(f"combination {sorted(self.combination)} names a score not offered")
        if not math.isclose(sum(self.combination.values()), 1.0, abs_tol=1e-9):
            raise ValueError("combination weights must sum to 1")
        if "fp32" not in self.precisions or len(set(self.precisions)) != len(self.precisions):
            raise ValueError(f"precisions {self.precisions}: need fp32, each precision once")
        return self

    def names(self) -> list[ScoreName]:
        return [record.name for record in self.scores]

    def record(self, name: ScoreName) -> ScoreRecord:
        return next(record for record in self.scores if record.name == name)


@dataclass(frozen=True)
class Calibration:
    """Validation scores (each sorted ascending) and the record they come with."""

    info: AnomalyInfo
    validation: Mapping[ScoreName, np.ndarray]

    @classmethod
    def of(cls, info: AnomalyInfo, scores: Mapping[ScoreName, np.ndarray]) -> Calibration:
        """From the validation images' scores in any order."""
        return cls(info, {name: np.sort(np.asarray(v, np.float64)) for name, v in scores.items()})

    @property
    def size(self) -> int:
        return len(next(iter(self.validation.values())))

    @property
    def min_fpr(self) -> float:
        """The smallest false-positive rate the validation set can calibrate: 1 / (n + 1)."""
        return 1 / (self.size + 1)

    def p_value(self, name: ScoreName, scores: np.ndarray) -> np.ndarray:
        """(1 + #{v >= s}) / (n + 1) for each score s."""
        v = self.validation[name]
        at_least = len(v) - np.searchsorted(v, scores, side="left")
        return (1 + at_least) / (len(v) + 1)

    def threshold(self, name: ScoreName, fpr: float) -> float:
        """t such that `score > t` is exactly `p_value <= fpr`; ValueError below `min_fpr`."""
        if fpr < self.min_fpr:
            raise ValueError(
                f"a false-positive rate below {self.min_fpr:.6g} (1 / (n + 1), n = {self.size} "
                "validation images) cannot be calibrated"
            )
        v = self.validation[name]
        above = min(math.floor(fpr * (len(v) + 1)) - 1, len(v) - 1)
        return float(v[len(v) - 1 - above])

    def rate_above(self, name: ScoreName, threshold: float) -> float:
        """The share of validation images scoring above `threshold`: its false-positive rate."""
        v = self.validation[name]
        return float(len(v) - np.searchsorted(v, threshold, side="right")) / len(v)

    def combined(self, components: Mapping[ScoreName, np.ndarray]) -> np.ndarray:
        """T = max_i (log w_i + evidence_i) of the component scores (see the module's text)."""
        return combine(self.info.combination, self.validation, components, self.info.tail)

    def histogram(self, name: ScoreName, bins: int) -> tuple[np.ndarray, np.ndarray]:
        """Counts and edges of the validation scores, between their 0.5th and 99.5th percentiles
        (the extremes stretch the axis and hide the bulk); values outside go to the end bins."""
        v = self.validation[name]
        low, high = np.quantile(v, [0.005, 0.995])
        if not high > low:
            low, high = float(v[0]) - 0.5, float(v[-1]) + 0.5
        counts, edges = np.histogram(np.clip(v, low, high), bins=bins, range=(low, high))
        return counts, edges


def evidence(
    validation: np.ndarray, scores: np.ndarray, tail: float, leave_one_out: bool = False
) -> np.ndarray:
    """-log p~(s): the p-value, with an exponential tail past the top `tail` share of the sorted
    validation values (their mean excess over the cut is its scale). `leave_one_out`: the scores
    are validation values themselves, each counted as the image's own (#{v >= s} / n)."""
    n = len(validation)
    at_least = n - np.searchsorted(validation, scores, side="left")
    p = at_least / n if leave_one_out else (1 + at_least) / (n + 1)
    top = max(int(tail * n), MIN_TAIL_POINTS)
    cut = validation[n - top]
    scale = float(np.mean(validation[n - top :] - cut))
    if scale <= 0:
        return -np.log(p)
    beyond = (top / (n + 1)) * np.exp(-(np.maximum(scores, cut) - cut) / scale)
    return -np.log(np.where(scores > cut, np.minimum(p, beyond), p))


def combine(
    weights: Mapping[ScoreName, float],
    validation: Mapping[ScoreName, np.ndarray],
    components: Mapping[ScoreName, np.ndarray],
    tail: float,
    leave_one_out: bool = False,
) -> np.ndarray:
    """T = max_i (log w_i + evidence_i(s_i)) over the weighted component scores."""
    return np.max(
        [
            math.log(w) + evidence(validation[name], components[name], tail, leave_one_out)
            for name, w in weights.items()
        ],
        axis=0,
    )


def leave_one_out_combined(
    weights: Mapping[ScoreName, float], validation: Mapping[ScoreName, np.ndarray], tail: float
) -> np.ndarray:
    """The combined score of each validation image against the others (`validation` sorted per
    score; the images' component scores are read in one order, so pass them unsorted)."""
    return combine(weights, {k: np.sort(v) for k, v in validation.items()}, validation, tail, True)


def npz_key(precision: Precision, name: ScoreName) -> str:
    """The array of `name`'s validation scores at `precision` in anomaly.npz."""
    return name if precision == "fp32" else f"{precision}/{name}"


def write_calibration(
    path: Path, validation: Mapping[Precision, Mapping[ScoreName, np.ndarray]]
) -> None:
    """Write the validation scores of each precision (float64, in the split's order, so that any
    image's can be measured again) to one .npz file, one array per precision and score."""
    arrays = {
        npz_key(precision, name): np.asarray(v, np.float64)
        for precision, scores in validation.items()
        for name, v in scores.items()
    }
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def read_validation(path: Path) -> dict[str, np.ndarray]:
    """anomaly.npz's arrays by key; BundleInvalid if it is not a readable .npz file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise BundleInvalid(f"{path}: not a readable .npz file: {exc}") from None


def read_calibration(path: Path, info: AnomalyInfo) -> dict[Precision, Calibration]:
    """The validation scores of `path` at each precision, checked against `info`: one finite
    array of `validation_images` values per precision and score offered. BundleInvalid names the
    file and the reason."""
    arrays = read_validation(path)
    expected = [npz_key(p, name) for p in info.precisions for name in info.names()]
    if sorted(arrays) != sorted(expected):
        raise BundleInvalid(f"{path}: holds {sorted(arrays)}, model.json offers {expected}")
    for key, v in arrays.items():
        if v.shape != (info.validation_images,) or not np.all(np.isfinite(v)):
            raise BundleInvalid(
                f"{path}: {key} needs {info.validation_images} finite values, has {v.shape}"
            )
    return {
        p: Calibration.of(info, {name: arrays[npz_key(p, name)] for name in info.names()})
        for p in info.precisions
    }
