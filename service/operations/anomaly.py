"""The anomaly endpoints: score images against the model's calibration (p-values, verdicts at a
false-positive rate or a threshold, per-pixel maps), and the calibration itself for a client to
draw (thresholds, the validation scores' histogram)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from service import imaging
from service.bodies import parses
from service.errors import CalibrationNotFound, InvalidInput
from service.operations import convert
from service.runtime import InferencePool, in_pool
from service.schemas.requests import ScoreRequest
from service.schemas.responses import (
    CalibrationResponse,
    Histogram,
    ScoreCalibration,
    ScoreResponse,
    ScoreResult,
)
from vae_core.anomaly import Scorer, scorer_for
from vae_core.calibration import Calibration
from vae_core.graphs import OnnxAutoencoder
from vae_core.vocabulary import ScoreName

HISTOGRAM_BINS = 40
LISTED_RATES = (0.01, 0.05, 0.1)


def _calibration_of(model: OnnxAutoencoder) -> Calibration:
    if model.calibration is None:
        raise CalibrationNotFound(
            f"model {model.name!r} has no anomaly calibration; add it without retraining: "
            f"vae-serve calibrate {model.name} (in the model directory), then reload",
            detail={"command": f"vae-serve calibrate models/{model.name}"},
        )
    return model.calibration


@dataclass(frozen=True)
class AnomalyOperations:
    """The anomaly endpoints' work; public methods run in the inference pool."""

    limits: imaging.ImageLimits
    pool: InferencePool
    max_items: int

    @in_pool
    @parses(ScoreRequest, before=_calibration_of)  # a 404 before parsing or decoding anything
    def score(self, model: OnnxAutoencoder, body: ScoreRequest) -> ScoreResponse:
        calibration = _calibration_of(model)
        name = _offered(model, calibration, body.score or calibration.info.default_score)
        fpr, threshold = _decision(calibration, name, body)
        x = convert.pixels(model, body.images, self.limits)
        scorer = scorer_for(model, calibration.info)
        names = calibration.info.names() if body.all_scores else [name]
        measured = scorer.measure(x, names, calibration, reconstruct=body.map or body.map_values)
        values = measured.scores[name]
        p_values = calibration.p_value(name, values)
        maps = _maps(scorer, x, measured.x_hat)
        inputs = convert.base64_pngs(x) if body.map else None
        results = [
            ScoreResult(
                score=float(values[i]),
                p_value=float(p_values[i]),
                anomalous=bool(values[i] > threshold),
                scores={k: float(v[i]) for k, v in measured.scores.items()}
                if body.all_scores
                else None,
                map=_png_base64(maps[i]) if body.map and maps is not None else None,
                map_values=maps[i].tolist() if body.map_values and maps is not None else None,
                input=inputs[i] if inputs is not None else None,
            )
            for i in range(len(values))
        ]
        return ScoreResponse(
            model=model.name, score=name, fpr=fpr, threshold=threshold, results=results
        )

    @in_pool
    def calibration(self, model: OnnxAutoencoder) -> CalibrationResponse:
        calibration = _calibration_of(model)
        info = calibration.info
        return CalibrationResponse(
            model=model.name,
            default_score=info.default_score,
            default_fpr=info.default_fpr,
            min_fpr=calibration.min_fpr,
            validation_images=info.validation_images,
            scores=[_score_calibration(calibration, name) for name in info.names()],
        )


def _offered(model: OnnxAutoencoder, calibration: Calibration, name: ScoreName) -> ScoreName:
    offered = calibration.info.names()
    if name not in offered:
        raise InvalidInput(
            f"model {model.name!r} offers no score {name!r}; it offers {', '.join(offered)}",
            detail={"scores": offered},
        )
    return name


def _decision(calibration: Calibration, name: ScoreName, body: ScoreRequest) -> tuple[float, float]:
    """(false-positive rate, threshold) from the request's rate, its threshold, or the default."""
    if body.threshold is not None:
        return calibration.rate_above(name, body.threshold), body.threshold
    fpr = body.fpr if body.fpr is not None else calibration.info.default_fpr
    if fpr < calibration.min_fpr:
        raise InvalidInput(
            f"fpr {fpr:g} is below {calibration.min_fpr:.6g}, the smallest rate "
            f"{calibration.size} validation images can calibrate (1 / (n + 1))",
            detail={"min_fpr": calibration.min_fpr, "max_fpr": 0.5},
        )
    return fpr, calibration.threshold(name, fpr)


def _maps(scorer: Scorer, x: np.ndarray, x_hat: np.ndarray | None) -> np.ndarray | None:
    return None if x_hat is None else scorer.pixel_map(x, x_hat)


def _png_base64(pixel_map: np.ndarray) -> str:
    return base64.b64encode(imaging.pngs(pixel_map[None, None])[0]).decode("ascii")


def _score_calibration(calibration: Calibration, name: ScoreName) -> ScoreCalibration:
    counts, edges = calibration.histogram(name, HISTOGRAM_BINS)
    return ScoreCalibration(
        name=name,
        unit=calibration.info.record(name).unit,
        thresholds={
            f"{fpr:g}": calibration.threshold(name, fpr)
            for fpr in LISTED_RATES
            if fpr >= calibration.min_fpr
        },
        histogram=Histogram(edges=edges.tolist(), counts=counts.tolist()),
    )
