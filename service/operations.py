"""What each endpoint does, between HTTP (service.api) and the model (service.runtime): decode the
request's images, run the latent maths, encode the reply. Blocking work; the API runs these in the
inference pool, off the event loop."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from functools import partial

import numpy as np

from service import imaging
from service.attributes import AttributeStore, from_examples
from service.errors import InvalidInput, NotAcceptable
from service.registry import Entry, Loaded, ModelRegistry, Unavailable
from service.schemas import (
    MAX_SEED,
    AttributeInfo,
    AttributeList,
    CustomAttributeRequest,
    DecodeRequest,
    DecodeResponse,
    EditRequest,
    EditResponse,
    EncodeRequest,
    EncodeResponse,
    InterpolateRequest,
    InterpolateResponse,
    LatentEncoding,
    LatentRows,
    ModelDetail,
    ModelList,
    ModelState,
    ModelSummary,
    PackedLatents,
    Readiness,
    ReconstructRequest,
    ReconstructResponse,
    ReloadEntry,
    ReloadResponse,
    SampleRequest,
    SampleResponse,
)
from vae_core import latent
from vae_core.bundle import AttributeVector
from vae_core.graphs import OnnxAutoencoder

PRIOR_NOTES = {
    "standard_normal": "z ~ N(0, I) · temperature: the VAE's prior.",
    "empirical_gaussian": "An autoencoder has no prior, so N(0, I) means nothing for it: z is "
    "drawn from the empirical distribution of its training codes, a Gaussian fitted to them "
    "(z = mean + L · eps · temperature, L the Cholesky factor of their covariance).",
}


@dataclass(frozen=True)
class Picture:
    """A binary reply: a PNG or an animated GIF."""

    content: bytes
    media_type: str


class Operations:
    def __init__(
        self, registry: ModelRegistry, attributes: AttributeStore, limits: imaging.ImageLimits
    ):
        self.registry = registry
        self.attributes = attributes
        self.image_limits = limits

    # ------------------------------------------------------------------------------- metadata

    def readiness(self) -> Readiness:
        return Readiness(
            ready=self.registry.ready, models=[_state(e) for e in self.registry.entries()]
        )

    def list_models(self) -> ModelList:
        return ModelList(models=[self._summary(entry) for entry in self.registry.entries()])

    def describe(self, entry: Loaded) -> ModelDetail:
        manifest = entry.model.manifest
        return ModelDetail(
            **self._summary(entry).model_dump(),
            dataset=manifest.dataset,
            preprocessing=manifest.preprocessing,
            latent_prior=manifest.latent_prior,
            metrics=manifest.metrics,
            training=manifest.training,
            architecture=manifest.architecture,
            created_at=manifest.created_at,
        )

    def reload(self) -> ReloadResponse:
        results = self.registry.reload()
        return ReloadResponse(
            models=[ReloadEntry(name=r.name, outcome=r.outcome, reason=r.reason) for r in results]
        )

    def list_attributes(self, model: OnnxAutoencoder) -> AttributeList:
        return AttributeList(attributes=[_info(v) for v in self.attributes.all(model)])

    def get_attribute(self, model: OnnxAutoencoder, name: str) -> AttributeInfo:
        return _info(self.attributes.get(model, name))

    # ------------------------------------------------------------------------------ inference

    def encode(self, model: OnnxAutoencoder, body: EncodeRequest) -> EncodeResponse:
        codes = model.encode(self._pixels(model, body.images))
        out = partial(_codes_out, encoding=body.latents)
        z_log_var = None if codes.z_log_var is None else out(codes.z_log_var)
        if not body.sample:
            return EncodeResponse(z_mean=out(codes.z_mean), z_log_var=z_log_var)
        seed = _seed(body.seed)
        z = model.posterior_sample(codes, _rng(seed))
        return EncodeResponse(z_mean=out(codes.z_mean), z_log_var=z_log_var, z=out(z), seed=seed)

    def decode(
        self, model: OnnxAutoencoder, body: DecodeRequest, as_png: bool
    ) -> DecodeResponse | Picture:
        z = _latents(model, body.z)
        if as_png and len(z) != 1:
            raise NotAcceptable(f"Accept: image/png returns one image; got {len(z)} vectors")
        images = model.decode(z)
        if as_png:
            return Picture(imaging.pngs(images)[0], "image/png")
        return DecodeResponse(images=_base64(imaging.pngs(images)))

    def sample(self, model: OnnxAutoencoder, body: SampleRequest) -> SampleResponse:
        seed = _seed(body.seed)
        z = model.prior_sample(body.n, _rng(seed), body.temperature)
        prior = model.manifest.latent_prior.kind
        return SampleResponse(
            images=_base64(imaging.pngs(model.decode(z))),
            z=_codes_out(z, body.latents),
            seed=seed,
            prior=prior,
            note=PRIOR_NOTES[prior],
        )

    def reconstruct(self, model: OnnxAutoencoder, body: ReconstructRequest) -> ReconstructResponse:
        z_mean = model.encode(self._pixels(model, body.images)).z_mean
        return ReconstructResponse(
            images=_base64(imaging.pngs(model.decode(z_mean))),
            z_mean=_codes_out(z_mean, body.latents),
        )

    def edit(self, model: OnnxAutoencoder, body: EditRequest) -> EditResponse | Picture:
        moves = [(self.attributes.get(model, name), s) for name, s in body.attributes.items()]
        z = latent.shift(self._codes(model, body.images, body.z), moves)
        if body.sweep is not None:
            vector = self.attributes.get(model, body.sweep.attribute)
            z = np.concatenate([latent.shift(z, [(vector, s)]) for s in body.sweep.strengths])
        images = model.decode(z)
        if body.format == "strip":
            return Picture(imaging.strip(images), "image/png")
        return EditResponse(images=_base64(imaging.pngs(images)), z=_codes_out(z, body.latents))

    def interpolate(
        self, model: OnnxAutoencoder, body: InterpolateRequest
    ) -> InterpolateResponse | Picture:
        ends = self._codes(model, body.images, body.z)
        z = latent.interpolate(ends[0], ends[1], body.steps, body.method)
        frames = model.decode(z)
        if body.format == "gif":
            return Picture(imaging.gif(frames, body.frame_ms), "image/gif")
        if body.format == "strip":
            return Picture(imaging.strip(frames), "image/png")
        return InterpolateResponse(
            images=_base64(imaging.pngs(frames)), z=_codes_out(z, body.latents)
        )

    def put_attribute(
        self, model: OnnxAutoencoder, name: str, body: CustomAttributeRequest
    ) -> tuple[AttributeInfo, bool]:
        """Compute a custom vector from examples and store it; also says whether it is new."""
        self.attributes.check_writable(model, name)  # fail fast, before encoding anything
        z_mean = model.encode(self._pixels(model, body.positive + body.negative)).z_mean
        vector = from_examples(name, z_mean, positive=len(body.positive))
        created = self.attributes.put(model, vector)
        return _info(vector), created

    def delete_attribute(self, model: OnnxAutoencoder, name: str) -> None:
        self.attributes.delete(model, name)

    # -------------------------------------------------------------------------------- helpers

    def _pixels(self, model: OnnxAutoencoder, images: list[bytes]) -> np.ndarray:
        return imaging.to_model_input(images, model.manifest.preprocessing, self.image_limits)

    def _codes(
        self,
        model: OnnxAutoencoder,
        images: list[bytes] | None,
        z: LatentRows | PackedLatents | None,
    ) -> np.ndarray:
        """z_mean of the images, or the given codes."""
        if images is not None:
            return model.encode(self._pixels(model, images)).z_mean
        assert z is not None  # the request schema requires one of the two
        return _latents(model, z)

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
        )


def _state(entry: Entry) -> ModelState:
    if isinstance(entry, Unavailable):
        return ModelState(name=entry.name, available=False, reason=entry.reason)
    reason = (
        entry.reload_error
        and f"serving the previous version; the new one failed: {entry.reload_error}"
    )
    return ModelState(name=entry.model.name, available=True, reason=reason)


def _info(vector: AttributeVector) -> AttributeInfo:
    return AttributeInfo(**vector.model_dump())


def _latents(model: OnnxAutoencoder, z: LatentRows | PackedLatents) -> np.ndarray:
    """Request codes -> float32 [N, D], 422 unless every vector has the model's latent_dim."""
    if isinstance(z, PackedLatents):
        if z.shape[1] != model.latent_dim:
            raise InvalidInput(
                f"model {model.name!r} takes {model.latent_dim}-d codes; shape is {z.shape}",
                detail={"latent_dim": model.latent_dim, "shape": z.shape},
            )
        return z.rows()
    wrong = [i for i, row in enumerate(z) if len(row) != model.latent_dim]
    if wrong:
        raise InvalidInput(
            f"model {model.name!r} takes {model.latent_dim}-d codes; "
            f"vector {wrong[0]} has {len(z[wrong[0]])} values",
            detail={"latent_dim": model.latent_dim, "wrong_rows": wrong[:16]},
        )
    return np.asarray(z, dtype=np.float32)


def _codes_out(z: np.ndarray, encoding: LatentEncoding) -> list[list[float]] | PackedLatents:
    """Codes for a response: lists of numbers, or packed float32 when the request asked."""
    return PackedLatents.pack(z) if encoding == "base64" else z.tolist()


def _base64(blobs: list[bytes]) -> list[str]:
    return [base64.b64encode(blob).decode("ascii") for blob in blobs]


def _seed(seed: int | None) -> int:
    return secrets.randbelow(MAX_SEED + 1) if seed is None else seed


def _rng(seed: int) -> np.random.Generator:
    """One generator per request: the same seed always draws the same eps."""
    return np.random.Generator(np.random.PCG64(seed))
