"""The model endpoints: the list of models, one model's metadata, readiness and reload."""

from __future__ import annotations

from service.precision import PrecisionPolicy
from service.registry import Entry, Loaded, ModelRegistry, Unavailable
from service.runtime import InferencePool, in_pool
from service.schemas.responses import (
    ModelDetail,
    ModelList,
    ModelState,
    ModelSummary,
    Readiness,
    ReloadEntry,
    ReloadResponse,
    SamplerInfo,
)
from service.vector_store import AttributeStore
from vae_core.graphs import OnnxAutoencoder


class ModelOperations:
    def __init__(
        self,
        registry: ModelRegistry,
        attributes: AttributeStore,
        pool: InferencePool,
        precision: PrecisionPolicy,
    ):
        self.registry = registry
        self.attributes = attributes
        self.pool = pool
        self.precision = precision

    def readiness(self, draining: bool = False) -> Readiness:
        """Cheap (the disk watcher's last result, no file read): answered on the event loop. A
        draining replica (shutting down) is not ready, whatever its models."""
        return Readiness(
            ready=self.registry.ready and not draining,
            models=[_state(e) for e in self.registry.entries()],
            draining=draining,
        )

    @in_pool
    def list(self) -> ModelList:
        return ModelList(models=[self._summary(entry) for entry in self.registry.entries()])

    @in_pool
    def describe(self, entry: Loaded) -> ModelDetail:
        manifest = entry.model.manifest
        return ModelDetail(
            **self._summary(entry).model_dump(),
            dataset=manifest.dataset,
            preprocessing=manifest.preprocessing,
            latent_prior=manifest.latent_prior,
            samplers=_samplers(entry.model),
            default_sampler=manifest.default_sampler,
            evaluation=manifest.evaluation,
            metrics=manifest.metrics,
            training=manifest.training,
            architecture=manifest.architecture,
            created_at=manifest.created_at,
            latent_map=manifest.latent_map,
            anomaly=manifest.anomaly,
            precisions=manifest.precisions,
            precision_reason=self.precision.choose(entry.model.name, manifest.int8).reason,
            int8=manifest.int8,
        )

    @in_pool
    def reload(self) -> ReloadResponse:
        results = self.registry.reload()
        return ReloadResponse(
            models=[ReloadEntry(name=r.name, outcome=r.outcome, reason=r.reason) for r in results]
        )

    def _summary(self, entry: Entry) -> ModelSummary:
        if isinstance(entry, Unavailable):
            return ModelSummary(**_state(entry).model_dump())
        manifest = entry.model.manifest
        return ModelSummary(
            **_state(entry).model_dump(),
            kind=manifest.kind,
            latent_dim=manifest.latent_dim,
            image=manifest.image,
            attributes=[vector.name for vector in self.attributes.all(entry.model)],
            precision=entry.model.precision,
        )


def _samplers(model: OnnxAutoencoder) -> list[SamplerInfo]:
    """The samplers the model offers, with the Fréchet distance its bundle measured."""
    recorded = model.manifest.samplers
    measured = {s.name: s.frechet_distance for s in recorded.offered} if recorded else {}
    default = model.manifest.default_sampler
    return [
        SamplerInfo(name=name, frechet_distance=measured.get(name), default=name == default)
        for name in model.samplers
    ]


def _state(entry: Entry) -> ModelState:
    if isinstance(entry, Unavailable):
        return ModelState(name=entry.name, available=False, reason=entry.reason)
    reason = (
        entry.reload_error
        and f"serving the previous version; the new one failed: {entry.reload_error}"
    )
    return ModelState(name=entry.model.name, available=True, reason=reason)
