"""The precision each bundle serves at: the per-model setting, else the global one (`precision`,
`model_precision` in service.config); `auto` is the bundle's recommendation where this CPU has the
instructions its speed-up was measured with (vae_core.precision.choose_precision). The choice and
its reason are logged when the bundle loads, and reported by GET /v1/models/{model}."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from service.runtime import RuntimeOptions, load_model
from vae_core.bundle import read_manifest
from vae_core.graphs import OnnxAutoencoder
from vae_core.precision import CpuFeatures, Int8Record, PrecisionChoice, choose_precision
from vae_core.vocabulary import PrecisionSetting

logger = logging.getLogger("vae_serve.precision")


class PrecisionPolicy:
    """Settings and CPU in, a precision per bundle out: the same answer for the same bundle."""

    def __init__(
        self,
        default: PrecisionSetting,
        per_model: Mapping[str, PrecisionSetting],
        cpu: CpuFeatures,
    ):
        self.default = default
        self.per_model = dict(per_model)
        self.cpu = cpu

    def asked(self, model: str) -> PrecisionSetting:
        return self.per_model.get(model, self.default)

    def choose(self, model: str, int8: Int8Record | None) -> PrecisionChoice:
        return choose_precision(self.asked(model), int8, self.cpu)

    def load(self, directory: Path, options: RuntimeOptions) -> OnnxAutoencoder:
        """Load a bundle at its chosen precision, and log which and why."""
        choice = self.choose(directory.name, read_manifest(directory).int8)
        fell_back = self.asked(directory.name) == "int8" and choice.precision == "fp32"
        logger.log(
            logging.WARNING if fell_back else logging.INFO,
            "model %s serves at %s: %s", directory.name, choice.precision, choice.reason,
            extra={"model": directory.name, "precision": choice.precision},
        )  # fmt: skip
        return load_model(directory, options, choice.precision)
