"""A bundle's anomaly calibration and its evaluation (`python -m training calibrate MODEL_DIR`, run
by export too): the scores of vae_core.anomaly on the validation split (`anomaly.npz`, which the
service turns into p-values and thresholds), and what they are worth, recorded in model.json:

- AUROC and FPR at 95% TPR of every score, the test split against each out-of-distribution set
  of training.datasets.ood;
- the realised false-positive rate on the test split at the calibrated thresholds;
- the pixel AUROC of per-pixel quantities on synthetic defects (training.defects);
- the default score: the best measured, by its worst AUROC over the sets (then its mean).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from tqdm import tqdm

from training.config import CalibrationConfig
from training.datasets.ood import ood_sets
from training.datasets.splits import DatasetSplits
from training.defects import add_defects
from training.errors import ConfigError
from vae_core import anomaly, bundle
from vae_core.bundle import read_manifest
from vae_core.calibration import (
    ANOMALY,
    COMBINED,
    DEFAULT_FPR,
    MIN_VALIDATION,
    TAIL,
    AnomalyInfo,
    Calibration,
    OodFigures,
    PixelMapInfo,
    ScoreRecord,
    leave_one_out_combined,
    npz_key,
    read_validation,
    write_calibration,
)
from vae_core.files import rewrite_folder, write_json_atomic
from vae_core.graphs import OnnxAutoencoder, load_autoencoder, session_options
from vae_core.vocabulary import Precision, ScoreName

DEFECT_IMAGES = 999  # test images given a synthetic defect (a third of each kind)
BATCH = 64  # images per scoring step: x (K + 2) decoded images at once
FPRS = (0.01, 0.05)  # requested rates whose realised rate on the test split is recorded


def calibrate(
    bundle_dir: Path, data: DatasetSplits, settings: CalibrationConfig
) -> bundle.Manifest:
    """Calibrate an existing bundle through a copy swapped in whole; its other files stay."""
    return rewrite_folder(bundle_dir, partial(write_anomaly, data=data, settings=settings))


def remove_calibration(bundle_dir: Path) -> bundle.Manifest:
    """Delete a bundle's calibration, in place: anomaly.npz, and its entries in model.json."""
    manifest = bundle.read_manifest(bundle_dir)
    (bundle_dir / ANOMALY).unlink(missing_ok=True)
    files = {name: sha for name, sha in manifest.files.items() if name != ANOMALY}
    manifest = manifest.model_copy(update={"files": files, "anomaly": None})
    write_json_atomic(bundle_dir / bundle.MANIFEST, manifest.model_dump(mode="json"))
    return manifest


def write_anomaly(
    bundle_dir: Path, data: DatasetSplits, settings: CalibrationConfig
) -> bundle.Manifest:
    """Score the validation split, evaluate, and write anomaly.npz and model.json's `anomaly`."""
    if len(data.val) < MIN_VALIDATION:
        raise ConfigError(
            f"calibration needs {MIN_VALIDATION} validation images, has {len(data.val)}"
        )
    model = load_autoencoder(bundle_dir, session_options(threads=2))
    scorer = anomaly.Scorer(model, settings.elbo_samples, settings.nll_samples, settings.seed)
    validation: dict[Precision, dict[ScoreName, np.ndarray]] = {
        "fp32": validation_scores(scorer, data)
    }
    info = _info(model, scorer, settings, len(data.val))
    if settings.evaluate:
        info = evaluate_anomaly(model, Calibration.of(info, validation["fp32"]), data, settings)
    for precision in model.manifest.precisions[1:]:
        validation[precision] = validation_scores(_scorer_at(bundle_dir, info, precision), data)
    return _write_calibrated(bundle_dir, model.manifest, info, validation)


def add_precision(bundle_dir: Path, data: DatasetSplits, precision: Precision) -> bundle.Manifest:
    """Add to a calibrated bundle, in place, the validation scores its graphs at `precision`
    give (quantize does, once the int8 graphs are written)."""
    manifest, validation = _recorded_validation(bundle_dir, drop=precision)
    assert manifest.anomaly is not None
    scorer = _scorer_at(bundle_dir, manifest.anomaly, precision)
    validation[precision] = validation_scores(scorer, data)
    return _write_calibrated(bundle_dir, manifest, manifest.anomaly, validation)


def drop_precision(bundle_dir: Path, precision: Precision) -> None:
    """Remove a precision's validation scores from a bundle's calibration, in place, if any."""
    manifest, validation = _recorded_validation(bundle_dir, drop=precision)
    if manifest.anomaly is not None and precision in manifest.anomaly.precisions:
        _write_calibrated(bundle_dir, manifest, manifest.anomaly, validation)


def _recorded_validation(
    bundle_dir: Path, drop: Precision
) -> tuple[bundle.Manifest, dict[Precision, dict[ScoreName, np.ndarray]]]:
    """The manifest and anomaly.npz's scores by precision, but `drop`'s."""
    manifest = bundle.read_manifest(bundle_dir)
    info = manifest.anomaly
    if info is None:
        return manifest, {}
    arrays = read_validation(bundle_dir / ANOMALY)
    kept = [p for p in info.precisions if p != drop]
    return manifest, {p: {n: arrays[npz_key(p, n)] for n in info.names()} for p in kept}


def validation_scores(scorer: anomaly.Scorer, data: DatasetSplits) -> dict[ScoreName, np.ndarray]:
    """Every score offered of the validation images, `combined` left-one-out."""
    what = f"validation ({scorer.model.precision})"
    validation = score_pixels(scorer, data.val.pixels, scorer.offered, what)
    weights = anomaly.COMBINATION[scorer.model.manifest.kind]
    validation[COMBINED] = leave_one_out_combined(weights, validation, TAIL)
    return validation


def _scorer_at(bundle_dir: Path, info: AnomalyInfo, precision: Precision) -> anomaly.Scorer:
    model = load_autoencoder(bundle_dir, session_options(threads=2), precision=precision)
    return anomaly.Scorer(model, info.elbo_samples, info.nll_samples, info.seed)


def _write_calibrated(
    bundle_dir: Path,
    manifest: bundle.Manifest,
    info: AnomalyInfo,
    validation: Mapping[Precision, Mapping[ScoreName, np.ndarray]],
) -> bundle.Manifest:
    """anomaly.npz, then model.json with `info` (at the precisions scored) and the checksums."""
    write_calibration(bundle_dir / ANOMALY, validation)
    precisions = [p for p in manifest.precisions if p in validation]
    fields = manifest.model_dump(mode="json") | {
        "anomaly": info.model_copy(update={"precisions": precisions}),
        "files": bundle.checksums(bundle_dir),
    }
    checked = bundle.Manifest.model_validate(fields)
    write_json_atomic(bundle_dir / bundle.MANIFEST, checked.model_dump(mode="json"))
    return checked


def score_pixels(
    scorer: anomaly.Scorer,
    pixels: np.ndarray,
    names: Collection[ScoreName],
    what: str,
    calibration: Calibration | None = None,
) -> dict[ScoreName, np.ndarray]:
    """The scores of uint8 pixels, made model input a batch at a time, with a progress bar."""
    prep = scorer.model.manifest.preprocessing
    parts: dict[ScoreName, list[np.ndarray]] = {name: [] for name in names}
    for start in tqdm(range(0, len(pixels), BATCH), desc=f"scoring {what}", unit="batch"):
        x = prep.to_tensor(pixels[start : start + BATCH])
        measured = scorer.measure(x, names, calibration)
        for name in names:
            parts[name].append(measured.scores[name])
    return {name: np.concatenate(values) for name, values in parts.items()}


def _info(
    model: OnnxAutoencoder,
    scorer: anomaly.Scorer,
    settings: CalibrationConfig,
    validation_images: int,
) -> AnomalyInfo:
    names: list[ScoreName] = [COMBINED, *scorer.offered]
    return AnomalyInfo(
        default_score=COMBINED,
        default_fpr=DEFAULT_FPR,
        elbo_samples=settings.elbo_samples,
        nll_samples=settings.nll_samples,
        seed=settings.seed,
        likelihood=scorer.likelihood.describe(),
        latent_density=scorer.density_name,
        compressor=anomaly.COMPRESSOR,
        combination=anomaly.COMBINATION[model.manifest.kind],
        tail=TAIL,
        validation_images=validation_images,
        test_images=0,
        pixel_map=PixelMapInfo(quantity=anomaly.MAP_QUANTITY, defects=0),
        scores=[ScoreRecord(name=name, unit=anomaly.UNITS[name]) for name in names],
    )


def evaluate_anomaly(
    model: OnnxAutoencoder,
    calibration: Calibration,
    data: DatasetSplits,
    settings: CalibrationConfig,
) -> AnomalyInfo:
    """`calibration.info` with the evaluation's figures and the best score as its default."""
    scorer = anomaly.Scorer(model, settings.elbo_samples, settings.nll_samples, settings.seed)
    test = data.test.pixels
    names = calibration.info.names()
    test_scores = score_pixels(scorer, test, names, "test", calibration)
    sets = ood_sets(test, data.preprocessing, settings.ood_images, settings.seed)
    figures: dict[ScoreName, dict[str, OodFigures]] = {name: {} for name in test_scores}
    for set_name, pixels in sets.items():
        scores = score_pixels(scorer, pixels, names, set_name, calibration)
        for name, values in scores.items():
            figures[name][set_name] = ood_figures(test_scores[name], values)
    records = [
        record.model_copy(
            update={
                "ood": figures[record.name],
                "realised_fpr": realised_rates(calibration, record.name, test_scores[record.name]),
            }
        )
        for record in calibration.info.scores
    ]
    measured = calibration.info.model_copy(
        update={
            "scores": records,
            "test_images": len(test),
            "ood_sets": {name: len(pixels) for name, pixels in sets.items()},
            "pixel_map": measure_pixel_map(scorer, test[:DEFECT_IMAGES], settings.seed),
        }
    )
    return with_best_default(measured)


def ood_figures(normal: np.ndarray, outliers: np.ndarray) -> OodFigures:
    """AUROC of telling `outliers` (positive) from `normal`, and the share of `normal` flagged at
    the threshold that flags 95% of `outliers`."""
    labels = np.r_[np.zeros(len(normal)), np.ones(len(outliers))]
    scores = np.r_[normal, outliers]
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return OodFigures(
        auroc=float(roc_auc_score(labels, scores)),
        fpr_at_95_tpr=float(fpr[np.searchsorted(tpr, 0.95, side="left")]),
    )


def realised_rates(
    calibration: Calibration, name: ScoreName, test_scores: np.ndarray
) -> dict[str, float]:
    """Requested rate -> the share of test images above its calibrated threshold (for the rates
    the validation set can calibrate)."""
    return {
        f"{fpr:g}": float(np.mean(test_scores > calibration.threshold(name, fpr)))
        for fpr in FPRS
        if fpr >= calibration.min_fpr
    }


def best_score(info: AnomalyInfo) -> ScoreName:
    """The score whose worst AUROC over the sets is highest, where a worst AUROC within the
    leader's standard error counts as a tie, broken by the mean AUROC: the default."""
    measured = [record for record in info.scores if record.ood]
    if not measured:
        return COMBINED

    def worst(record: ScoreRecord) -> tuple[float, str]:
        return min((figures.auroc, name) for name, figures in record.ood.items())

    leader = max(measured, key=worst)
    auroc, set_name = worst(leader)
    margin = auroc_standard_error(auroc, info.ood_sets[set_name], info.test_images)
    tied = [record for record in measured if worst(record)[0] >= auroc - margin]
    return max(tied, key=lambda r: float(np.mean([f.auroc for f in r.ood.values()]))).name


def auroc_standard_error(auroc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982): the standard error of an AUROC from the two sample sizes."""
    q1, q2 = auroc / (2 - auroc), 2 * auroc**2 / (1 + auroc)
    variance = (
        auroc * (1 - auroc) + (positives - 1) * (q1 - auroc**2) + (negatives - 1) * (q2 - auroc**2)
    ) / (positives * negatives)
    return float(np.sqrt(max(variance, 0.0)))


def with_best_default(info: AnomalyInfo) -> AnomalyInfo:
    return info.model_copy(update={"default_score": best_score(info)})


def measure_pixel_map(scorer: anomaly.Scorer, pixels: np.ndarray, seed: int) -> PixelMapInfo:
    """Pixel AUROC, against the defect masks, of |x - x_hat| (the map) and of per-pixel BCE."""
    damaged, masks = add_defects(pixels, seed)
    prep = scorer.model.manifest.preprocessing
    p = prep.pad
    masks = np.pad(masks, ((0, 0), (p, p), (p, p)))
    candidates: dict[str, list[np.ndarray]] = {"abs_error": [], "bce": []}
    for start in range(0, len(damaged), BATCH):
        x = prep.to_tensor(damaged[start : start + BATCH])
        x_hat = scorer.model.decode(scorer.model.encode(x).z_mean)
        candidates["abs_error"].append(scorer.pixel_map(x, x_hat))
        candidates["bce"].append(anomaly.bce(x_hat, x).mean(axis=1))
    return PixelMapInfo(
        quantity=anomaly.MAP_QUANTITY,
        defects=len(pixels),
        pixel_auroc={
            name: float(roc_auc_score(masks.ravel(), np.concatenate(parts).ravel()))
            for name, parts in candidates.items()
        },
    )


def figures(info: AnomalyInfo) -> dict[str, float]:
    """Every figure an anomaly record holds, by name, for a table of recorded against measured."""
    out: dict[str, float] = {}
    for record in info.scores:
        for set_name, ood in record.ood.items():
            out[f"{record.name} {set_name} auroc"] = ood.auroc
            out[f"{record.name} {set_name} fpr@95tpr"] = ood.fpr_at_95_tpr
        out |= {f"{record.name} fpr at {k}": v for k, v in record.realised_fpr.items()}
    out |= {f"map pixel auroc {k}": v for k, v in info.pixel_map.pixel_auroc.items()}
    return out


def measured_anomaly(model_dir: Path, data: DatasetSplits) -> Mapping[str, float]:
    """The figures of a bundle's anomaly evaluation, measured again against its own calibration."""
    model = load_autoencoder(model_dir, session_options(threads=2))
    if model.calibration is None:
        raise ConfigError(f"{model_dir} has no anomaly calibration: python -m training calibrate")
    info = model.calibration.info
    recorded = CalibrationConfig(
        info.elbo_samples, info.nll_samples, info.seed, max(info.ood_sets.values(), default=1)
    )
    return figures(evaluate_anomaly(model, model.calibration, data, recorded))


def describe(info: AnomalyInfo) -> str:
    """The default score and rate, and each score's AUROC per set, as a table."""
    sets = list(info.ood_sets)
    head = f"default score: {info.default_score}, default false-positive rate {info.default_fpr}"
    rows = [f"{'score':<16}" + "".join(f"{name:>10}" for name in sets) + "  fpr at 0.01 / 0.05"]
    for record in info.scores:
        aurocs = "".join(f"{record.ood[name].auroc:>10.3f}" for name in sets if name in record.ood)
        rates = " / ".join(f"{v:.4f}" for v in record.realised_fpr.values())
        rows.append(f"{record.name:<16}{aurocs}  {rates}")
    return "\n".join([head, "AUROC, test split against each set:", *rows])


def anomaly_table(model_dir: Path, data: DatasetSplits) -> str:
    """The anomaly figures a bundle records beside the same figures measured again."""
    from training.quality import figure_table

    recorded = read_manifest(model_dir).anomaly
    if recorded is None:
        return f"{model_dir}: no anomaly calibration (python -m training calibrate {model_dir})"
    measured = measured_anomaly(model_dir, data)
    return figure_table(dict(figures(recorded)), dict(measured))
