"""Anomaly scoring: how unlike its training data each image is, as a score, an empirical p-value
against the model's validation images and a verdict at a false-positive rate, with per-pixel maps;
and the calibration behind them."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service import examples
from service.dependencies import ModelName, model_call
from service.openapi import request_body
from service.operations.anomaly import AnomalyOperations
from service.routes.common import BODY, IMAGES, MODEL, errors
from service.schemas.responses import CalibrationResponse, ScoreResponse

router = APIRouter(prefix="/v1", tags=["anomaly"])
NO_CALIBRATION = (
    " 404 `calibration_not_found` for a bundle without an anomaly calibration, with the command "
    "that adds it."
)


@router.post(
    "/models/{model}/score",
    operation_id="score",
    summary="Images -> anomaly score, p-value and verdict (and per-pixel maps)",
    description="Scores each image, gives its p-value against the model's validation images and "
    "whether it is anomalous at the false-positive rate asked (or the model's default), or above "
    "an explicit threshold." + NO_CALIBRATION,
    responses=errors(*MODEL, *BODY, IMAGES),
    openapi_extra=request_body(AnomalyOperations.score, examples.SCORE),
)
async def score(model: ModelName, request: Request) -> ScoreResponse:
    call = model_call(request, model)
    return await call.operations.anomaly.score(call.model, await call.body())


@router.get(
    "/models/{model}/calibration",
    operation_id="get_calibration",
    summary="The anomaly calibration: each score's thresholds and validation histogram",
    description="What the scores are measured against: for each score, the thresholds at "
    "common false-positive rates and the histogram of the validation images' scores."
    + NO_CALIBRATION,
    responses=errors(*MODEL),
)
async def get_calibration(model: ModelName, request: Request) -> CalibrationResponse:
    call = model_call(request, model)
    return await call.operations.anomaly.calibration(call.model)
