"""The latent map endpoints: the map itself, its thumbnails, and placing images or codes on it with
their nearest held-out neighbours."""

from __future__ import annotations

from dataclasses import dataclass

from service import imaging
from service.bodies import parses
from service.errors import MapNotFound
from service.operations import convert
from service.operations.convert import Picture
from service.runtime import InferencePool, in_pool
from service.schemas.requests import ProjectRequest
from service.schemas.responses import LatentMapResponse, Neighbour, ProjectedPoint, ProjectResponse
from vae_core.graphs import OnnxAutoencoder
from vae_core.latent_map import SPRITE_MEDIA_TYPE, LatentMap


def _map_of(model: OnnxAutoencoder) -> LatentMap:
    if model.latent_map is None:
        raise MapNotFound(
            f"model {model.name!r} has no latent map; add one with "
            f"`python -m training map models/{model.name}`"
        )
    return model.latent_map


@dataclass(frozen=True)
class MapOperations:
    """The map endpoints' work; public methods run in the inference pool."""

    limits: imaging.ImageLimits
    pool: InferencePool
    max_items: int

    @in_pool
    def get(self, model: OnnxAutoencoder) -> LatentMapResponse:
        latent_map = _map_of(model)
        return LatentMapResponse(
            model=model.name,
            split=latent_map.split,
            count=latent_map.count,
            latent_dim=model.latent_dim,
            points=latent_map.positions.tolist(),
            labels=latent_map.labels,
            projection=latent_map.projection.record(),
            code_mean=latent_map.code_mean.tolist(),
            code_std=latent_map.code_std.tolist(),
            sprite=latent_map.layout,
        )

    @in_pool
    def sprite(self, model: OnnxAutoencoder) -> Picture:
        return Picture(_map_of(model).sprite, SPRITE_MEDIA_TYPE)

    @in_pool
    @parses(ProjectRequest, before=_map_of)  # a 404 before parsing or encoding anything
    def project(self, model: OnnxAutoencoder, body: ProjectRequest) -> ProjectResponse:
        latent_map = _map_of(model)
        z = convert.input_codes(model, body.images, body.z, self.limits)
        positions = latent_map.place(z)
        indices, distances = latent_map.nearest(z, body.neighbours)
        return ProjectResponse(
            points=[
                ProjectedPoint(
                    position=position.tolist(),
                    neighbours=[
                        _neighbour(latent_map, i, d) for i, d in zip(near, far, strict=True)
                    ],
                )
                for position, near, far in zip(positions, indices, distances, strict=True)
            ]
        )


def _neighbour(latent_map: LatentMap, index: int, distance: float) -> Neighbour:
    return Neighbour(
        index=int(index),
        distance=float(distance),
        position=latent_map.positions[index].tolist(),
        labels=latent_map.labels.values[index],
    )
