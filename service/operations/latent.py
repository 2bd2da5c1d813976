"""The latent-space endpoints: encode, decode, sample, reconstruct, edit, interpolate."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from service import imaging
from service.bodies import parses
from service.errors import InvalidInput, NotAcceptable
from service.operations import convert
from service.operations.convert import Picture
from service.runtime import InferencePool, in_pool
from service.schemas.latents import codes_out
from service.schemas.requests import (
    DecodeRequest,
    EditRequest,
    EncodeRequest,
    InterpolateRequest,
    ReconstructRequest,
    SampleRequest,
)
from service.schemas.responses import (
    DecodeResponse,
    EditResponse,
    EncodeResponse,
    InterpolateResponse,
    ReconstructResponse,
    SampleResponse,
)
from service.vector_store import AttributeStore
from vae_core import latent
from vae_core.graphs import OnnxAutoencoder
from vae_core.vocabulary import SamplerName

SAMPLER_NOTES: dict[SamplerName, str] = {
    "prior": "z ~ N(0, I) · temperature: the VAE's prior.",
    "gaussian": "z = mean + L · eps · temperature: the one Gaussian fitted to the empirical "
    "distribution of the training codes (L the Cholesky factor of their covariance). An "
    "autoencoder has no prior, so N(0, I) means nothing for it.",
    "gmm": "z = mean_k + L_k · eps · temperature, component k drawn by its weight: the mixture of "
    "Gaussians fitted to the training codes (ex-post density estimation), which follows where "
    "the codes are rather than N(0, I).",
}


@dataclass(frozen=True)
class LatentOperations:
    """The latent-space work of each endpoint, from parsing the body to the reply; public methods
    run in the inference pool."""

    attributes: AttributeStore
    limits: imaging.ImageLimits
    pool: InferencePool
    max_items: int

    @in_pool
    @parses(EncodeRequest)
    def encode(self, model: OnnxAutoencoder, body: EncodeRequest) -> EncodeResponse:
        codes = model.encode(convert.pixels(model, body.images, self.limits))
        out = partial(codes_out, code_format=body.code_format)
        z_log_var = None if codes.z_log_var is None else out(codes.z_log_var)
        if not body.sample:
            return EncodeResponse(z_mean=out(codes.z_mean), z_log_var=z_log_var)
        seed = convert.seed(body.seed)
        z = model.posterior_sample(codes, convert.rng(seed))
        return EncodeResponse(z_mean=out(codes.z_mean), z_log_var=z_log_var, z=out(z), seed=seed)

    @in_pool
    @parses(DecodeRequest)
    def decode(
        self, model: OnnxAutoencoder, body: DecodeRequest, as_png: bool
    ) -> DecodeResponse | Picture:
        z = convert.checked_codes(model, body.z)
        if as_png and len(z) != 1:
            raise NotAcceptable(f"Accept: image/png returns one image; got {len(z)} vectors")
        images = model.decode(z)
        if as_png:
            return Picture(imaging.pngs(images)[0], "image/png")
        return DecodeResponse(images=convert.base64_pngs(images))

    @in_pool
    @parses(SampleRequest)
    def sample(self, model: OnnxAutoencoder, body: SampleRequest) -> SampleResponse:
        name = body.sampler or model.manifest.default_sampler
        if name not in model.samplers:
            raise InvalidInput(
                f"model {model.name!r} offers no sampler {name!r}; it offers "
                f"{', '.join(model.samplers)}",
                detail={"samplers": list(model.samplers)},
            )
        seed = convert.seed(body.seed)
        z = model.samplers[name].sample(body.n, convert.rng(seed), body.temperature)
        return SampleResponse(
            images=convert.base64_pngs(model.decode(z)),
            z=codes_out(z, body.code_format),
            seed=seed,
            sampler=name,
            note=SAMPLER_NOTES[name],
        )

    @in_pool
    @parses(ReconstructRequest)
    def reconstruct(self, model: OnnxAutoencoder, body: ReconstructRequest) -> ReconstructResponse:
        z_mean = model.encode(convert.pixels(model, body.images, self.limits)).z_mean
        return ReconstructResponse(
            images=convert.base64_pngs(model.decode(z_mean)),
            z_mean=codes_out(z_mean, body.code_format),
        )

    @in_pool
    @parses(EditRequest)
    def edit(self, model: OnnxAutoencoder, body: EditRequest) -> EditResponse | Picture:
        moves = [(self.attributes.get(model, name), s) for name, s in body.attributes.items()]
        z = latent.shift(convert.input_codes(model, body.images, body.z, self.limits), moves)
        if body.sweep is not None:
            vector = self.attributes.get(model, body.sweep.attribute)
            z = np.concatenate([latent.shift(z, [(vector, s)]) for s in body.sweep.strengths])
        images = model.decode(z)
        if body.format == "strip":
            return Picture(imaging.strip(images), "image/png")
        return EditResponse(images=convert.base64_pngs(images), z=codes_out(z, body.code_format))

    @in_pool
    @parses(InterpolateRequest)
    def interpolate(
        self, model: OnnxAutoencoder, body: InterpolateRequest
    ) -> InterpolateResponse | Picture:
        ends = convert.input_codes(model, body.images, body.z, self.limits)
        z = latent.interpolate(ends[0], ends[1], body.steps, body.method)
        frames = model.decode(z)
        if body.format == "gif":
            return Picture(imaging.gif(frames, body.frame_ms), "image/gif")
        if body.format == "strip":
            return Picture(imaging.strip(frames), "image/png")
        return InterpolateResponse(
            images=convert.base64_pngs(frames), z=codes_out(z, body.code_format)
        )
