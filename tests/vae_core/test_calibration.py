"""The calibration's statistics (p-values, thresholds, the combined score) against brute-force
counts, and its file against damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vae_core.calibration import (
    AnomalyInfo,
    Calibration,
    PixelMapInfo,
    ScoreRecord,
    evidence,
    leave_one_out_combined,
    read_calibration,
    write_calibration,
)
from vae_core.errors import BundleInvalid
from vae_core.vocabulary import ScoreName

pytestmark = pytest.mark.unit

WEIGHTS: dict[ScoreName, float] = {"latent": 0.98, "elbo": 0.02}


def info(n: int, names: tuple[ScoreName, ...] = ("combined", "latent", "elbo")) -> AnomalyInfo:
    return AnomalyInfo(
        default_score="combined",
        default_fpr=0.05,
        elbo_samples=1,
        nll_samples=4,
        seed=0,
        likelihood="Bernoulli",
        latent_density="gmm",
        compressor="PNG",
        combination=WEIGHTS,
        tail=0.01,
        validation_images=n,
        test_images=0,
        pixel_map=PixelMapInfo(quantity="|x - x_hat|", defects=0),
        scores=[ScoreRecord(name=name, unit="nats") for name in names],
    )


def calibration_of(values: dict[ScoreName, np.ndarray]) -> Calibration:
    return Calibration.of(info(len(next(iter(values.values())))), values)


def test_a_p_value_counts_the_validation_scores_at_least_as_high_and_the_image_itself() -> None:
    v = np.r_[[0.0, 1.0, 1.0, 2.0, 5.0], np.arange(15.0) - 20]
    calibration = calibration_of({"latent": v})
    scores = np.array([-30.0, -1.0, 0.0, 1.0, 1.5, 5.0, 6.0])
    expected = [(1 + np.sum(v >= s)) / (len(v) + 1) for s in scores]
    assert calibration.p_value("latent", scores).tolist() == pytest.approx(expected)
    assert calibration.p_value("latent", np.array([100.0]))[0] == 1 / 21  # never 0


@pytest.mark.parametrize("fpr", [0.001, 0.01, 0.05, 0.1, 0.25, 0.5])
def test_above_the_threshold_is_exactly_a_p_value_at_most_the_rate(fpr: float) -> None:
    rng = np.random.default_rng(0)
    v = np.round(rng.normal(size=2000), 2)  # rounded: many ties
    calibration = calibration_of({"latent": v})
    threshold = calibration.threshold("latent", fpr)
    grid = np.unique(np.r_[v, v + 0.001, v - 0.001])
    flagged = grid > threshold
    assert np.array_equal(flagged, calibration.p_value("latent", grid) <= fpr)


def test_a_rate_below_one_in_n_plus_one_cannot_be_calibrated() -> None:
    calibration = calibration_of({"latent": np.arange(99.0)})
    assert calibration.min_fpr == 1 / 100
    assert calibration.threshold("latent", 0.01) == 98.0  # only the top value's excess flags
    with pytest.raises(ValueError, match="cannot be calibrated"):
        calibration.threshold("latent", 0.009)


def test_an_explicit_threshold_implies_the_share_of_validation_scores_above_it() -> None:
    calibration = calibration_of({"latent": np.arange(20.0)})
    assert calibration.rate_above("latent", 16.5) == 0.15
    assert calibration.rate_above("latent", 17.0) == 0.1  # strictly above
    assert calibration.rate_above("latent", -1.0) == 1.0


def test_normal_images_are_flagged_at_the_rate_asked() -> None:
    """Conformal calibration: validation and fresh normal data from one distribution."""
    rng = np.random.default_rng(1)
    calibration = calibration_of({"latent": rng.gamma(2.0, size=5000)})
    fresh = rng.gamma(2.0, size=100_000)
    for fpr in (0.01, 0.05):
        realised = np.mean(fresh > calibration.threshold("latent", fpr))
        sd = np.sqrt(fpr * (1 - fpr) / 5000)  # the calibration's own sampling error dominates
        assert abs(realised - fpr) < 4 * sd


def test_evidence_grows_past_the_largest_validation_score_instead_of_saturating() -> None:
    v = np.sort(np.random.default_rng(2).normal(size=1000))
    e = evidence(v, np.array([v[-1] + 1, v[-1] + 2, v[-1] + 4]), tail=0.01)
    assert e[0] > np.log(1001) - 1 and e[0] < e[1] < e[2]
    inside = evidence(v, v[:500], tail=0.01)  # below the tail: the plain p-value
    assert inside == pytest.approx(-np.log((1 + 1000 - np.arange(500)) / 1001))


def test_the_combined_score_is_calibrated_like_any_other() -> None:
    """Two independent component scores; the combination's validation values are computed
    leave-one-out, so fresh normal images are flagged at the rate asked."""
    rng = np.random.default_rng(3)
    n = 4000
    validation = {"latent": rng.normal(size=n), "elbo": rng.exponential(size=n)}
    combined = leave_one_out_combined(WEIGHTS, validation, tail=0.01)
    calibration = Calibration.of(info(n), {**validation, "combined": combined})
    fresh = {"latent": rng.normal(size=50_000), "elbo": rng.exponential(size=50_000)}
    t = calibration.combined(fresh)
    for fpr in (0.01, 0.05):
        realised = np.mean(t > calibration.threshold("combined", fpr))
        assert abs(realised - fpr) < 4 * np.sqrt(fpr * (1 - fpr) / n)


def test_the_combined_score_flags_what_only_a_guard_sees() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    validation = {"latent": rng.normal(size=n), "elbo": rng.normal(size=n)}
    combined = leave_one_out_combined(WEIGHTS, validation, tail=0.01)
    calibration = Calibration.of(info(n), {**validation, "combined": combined})
    typical_latent = np.zeros(3)
    far_elbo = np.array([10.0, 20.0, 40.0])
    t = calibration.combined({"latent": typical_latent, "elbo": far_elbo})
    assert np.all(t > calibration.threshold("combined", 0.01))
    assert t[0] < t[1] < t[2]


def test_the_calibration_file_round_trips_and_refuses_damage(tmp_path: Path) -> None:
    path = tmp_path / "anomaly.npz"
    values: dict[ScoreName, np.ndarray] = {
        name: np.random.default_rng(5).normal(size=50) for name in ("combined", "latent", "elbo")
    }
    write_calibration(path, {"fp32": values})
    read = read_calibration(path, info(50))
    assert list(read) == ["fp32"]
    assert read["fp32"].validation["latent"].tolist() == sorted(values["latent"].tolist())

    with pytest.raises(BundleInvalid, match="needs 60 finite values"):
        read_calibration(path, info(60))
    write_calibration(path, {"fp32": {**values, "elbo": np.r_[values["elbo"][:-1], np.nan]}})
    with pytest.raises(BundleInvalid, match="finite"):
        read_calibration(path, info(50))
    write_calibration(path, {"fp32": {"latent": values["latent"]}})
    with pytest.raises(BundleInvalid, match=r"model\.json offers"):
        read_calibration(path, info(50))
    write_calibration(path, {"fp32": values, "int8": values})  # int8's, not in the record
    with pytest.raises(BundleInvalid, match=r"int8/latent"):
        read_calibration(path, info(50))
    path.write_bytes(b"not a zip")
    with pytest.raises(BundleInvalid, match=r"not a readable \.npz"):
        read_calibration(path, info(50))


def test_each_precision_calibrated_reads_its_own_validation_scores(tmp_path: Path) -> None:
    path = tmp_path / "anomaly.npz"
    rng = np.random.default_rng(6)
    at = {
        precision: {name: rng.normal(size=50) for name in ("combined", "latent", "elbo")}
        for precision in ("fp32", "int8")
    }
    write_calibration(path, at)  # type: ignore[arg-type]
    both = info(50).model_copy(update={"precisions": ["fp32", "int8"]})
    read = read_calibration(path, both)
    for precision, values in at.items():
        assert read[precision].validation["elbo"].tolist() == sorted(values["elbo"].tolist())  # type: ignore[index]
    with pytest.raises(ValueError, match="need fp32"):
        info(50).model_validate(info(50).model_dump() | {"precisions": ["int8"]})


def test_a_record_must_offer_combined_and_weights_that_sum_to_one() -> None:
    with pytest.raises(ValueError, match="need combined"):
        info(50, names=("latent", "elbo"))
    with pytest.raises(ValueError, match="sum to 1"):
        info(50).model_validate(info(50).model_dump() | {"combination": {"latent": 0.5}})
    with pytest.raises(ValueError, match="not offered"):
        info(50, names=("combined", "latent"))
