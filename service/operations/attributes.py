"""The attribute endpoints: list and read vectors, create or replace a custom one from example
images, delete it."""

from __future__ import annotations

from dataclasses import dataclass

from service import imaging
from service.bodies import parses
from service.operations import convert
from service.runtime import InferencePool, in_pool
from service.schemas.requests import CustomAttributeRequest
from service.schemas.responses import AttributeInfo, AttributeList
from service.vector_store import AttributeStore, from_examples
from vae_core.bundle import AttributeVector
from vae_core.graphs import OnnxAutoencoder


@dataclass(frozen=True)
class AttributeOperations:
    """The attribute endpoints' work; public methods run in the inference pool."""

    attributes: AttributeStore
    limits: imaging.ImageLimits
    pool: InferencePool
    max_items: int

    @in_pool
    def list(self, model: OnnxAutoencoder) -> AttributeList:
        return AttributeList(attributes=[_info(v) for v in self.attributes.all(model)])

    @in_pool
    def get(self, model: OnnxAutoencoder, name: str) -> AttributeInfo:
        return _info(self.attributes.get(model, name))

    @in_pool
    @parses(CustomAttributeRequest)
    def put(
        self, model: OnnxAutoencoder, body: CustomAttributeRequest, name: str
    ) -> tuple[AttributeInfo, bool]:
        """Compute a custom vector from examples and store it; also says whether it is new."""
        self.attributes.check_writable(model, name)  # fail fast, before encoding anything
        examples = convert.pixels(model, body.positive + body.negative, self.limits)
        vector = from_examples(name, model.encode(examples).z_mean, positive=len(body.positive))
        created = self.attributes.put(model, vector)
        return _info(vector), created

    @in_pool
    def delete(self, model: OnnxAutoencoder, name: str) -> None:
        self.attributes.delete(model, name)


def _info(vector: AttributeVector) -> AttributeInfo:
    return AttributeInfo(**vector.model_dump())
