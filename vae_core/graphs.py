"""A bundle under ONNX Runtime: `encode` images to codes, `decode` codes to images, sample codes.
The service runs it behind its inference pool and batcher (`run_with` wraps every session run);
training's figures and evaluation run it as it is, so both see the same model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vae_core import latent
from vae_core.bundle import ENCODER, AttributeVector, Bundle, read_bundle
from vae_core.errors import BundleInvalid
from vae_core.sampling import GaussianMixture
from vae_core.vocabulary import Precision, SamplerName

Outputs = dict[str, np.ndarray]
Runner = Callable[[np.ndarray], Outputs]
Shape = tuple[int | None, ...]  # None: a dynamic (batch) axis


@dataclass(frozen=True)
class Codes:
    """The encoder's output: q(z|x) = N(z_mean, exp(z_log_var)) for a VAE; a point for an AE."""

    z_mean: np.ndarray
    z_log_var: np.ndarray | None


class Graph:
    """One ONNX graph with one float32 input, named `name` (default: its file's stem)."""

    def __init__(
        self, path: Path, options: ort.SessionOptions | None = None, name: str | None = None
    ):
        self.path = path
        self.name = name or path.stem
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own types for unparsable or invalid graphs
            raise BundleInvalid(f"{path}: ONNX Runtime cannot load it: {exc}") from None
        self.input_name = self._session.get_inputs()[0].name
        self.output_names = [output.name for output in self._session.get_outputs()]

    def run(self, batch: np.ndarray) -> Outputs:
        """One session run: the outputs by name."""
        outputs = self._session.run(self.output_names, {self.input_name: batch})
        return dict(zip(self.output_names, outputs, strict=True))

    def check_signature(self, inputs: dict[str, Shape], outputs: dict[str, Shape]) -> None:
        """Raise BundleInvalid unless the graph's inputs and outputs have these names and shapes."""
        for role, expected, actual in (
            ("inputs", inputs, self._session.get_inputs()),
            ("outputs", outputs, self._session.get_outputs()),
        ):
            found = {arg.name: _static_shape(arg.shape) for arg in actual}
            if found != expected or any(arg.type != "tensor(float)" for arg in actual):
                wanted = _describe_shapes(expected)
                raise BundleInvalid(
                    f"{self.path}: {role} are {_describe(actual)}, expected {wanted}"
                )


class OnnxAutoencoder:
    """A bundle's encoder and decoder, checked against the shapes its manifest promises, with its
    attribute vectors, samplers (`samplers[name].sample(n, rng, temperature)`; the default is
    `manifest.default_sampler`), latent map and anomaly calibration (None without one).

    `run_with(graph)` gives the function that runs each batch through `graph` (default: the
    session run itself); the service puts its metrics and batcher there. `precision` picks the
    graph files (`manifest.graph_files`): int8 needs the bundle's int8 graphs."""

    def __init__(
        self,
        bundle: Bundle,
        options: ort.SessionOptions | None = None,
        run_with: Callable[[Graph], Runner] | None = None,
        precision: Precision = "fp32",
    ):
        manifest = bundle.manifest
        self.name = bundle.name
        self.manifest = manifest
        self.attributes: dict[str, AttributeVector] = bundle.attributes
        self.latent_map = bundle.latent_map
        # Its own precision's calibration; fp32's for a bundle quantized after calibrating.
        self.calibration = bundle.calibrations.get(precision, bundle.calibrations.get("fp32"))
        self.samplers: dict[SamplerName, GaussianMixture] = bundle.samplers
        self.image_shape = manifest.image_shape
        self.latent_dim = manifest.latent_dim
        self.precision: Precision = precision
        files = manifest.graph_files(precision)
        self.encoder = Graph(bundle.directory / files["encoder"], options, "encoder")
        self.decoder = Graph(bundle.directory / files["decoder"], options, "decoder")
        image: Shape = (None, *self.image_shape)
        codes: Shape = (None, manifest.latent_dim)
        outputs = {"z_mean": codes} | ({"z_log_var": codes} if manifest.kind == "vae" else {})
        self.encoder.check_signature({"image": image}, outputs)
        self.decoder.check_signature({"z": codes}, {"image": image})
        if ("prior" in self.samplers) != (manifest.kind == "vae"):
            raise BundleInvalid(f"{self.name}: a VAE offers the prior sampler and an AE does not")
        wrap = run_with or (lambda graph: graph.run)
        self._run_encoder, self._run_decoder = wrap(self.encoder), wrap(self.decoder)

    @property
    def encoder_sha256(self) -> str:
        """Identifies the latent space: vectors computed with another encoder do not apply."""
        return self.manifest.files[ENCODER]

    def encode(self, images: np.ndarray) -> Codes:
        """images [N, C, H, W] in [0, 1] -> Codes."""
        outputs = self._run_encoder(np.ascontiguousarray(images, dtype=np.float32))
        return Codes(z_mean=outputs["z_mean"], z_log_var=outputs.get("z_log_var"))

    def decode(self, z: np.ndarray) -> np.ndarray:
        """z [N, D] -> images [N, C, H, W] in [0, 1]."""
        return self._run_decoder(np.ascontiguousarray(z, dtype=np.float32))["image"]

    def posterior_sample(self, codes: Codes, rng: np.random.Generator) -> np.ndarray:
        """z ~ q(z|x); an AE's posterior is the point z_mean."""
        return latent.posterior_sample(codes.z_mean, codes.z_log_var, rng)

    def prior_sample(self, n: int, rng: np.random.Generator, temperature: float) -> np.ndarray:
        """n codes from the bundle's `latent_prior`, scaled by `temperature` (what
        `samplers[manifest.default_sampler]` replaces)."""
        prior = self.manifest.latent_prior
        return latent.prior_sample(prior, n, self.latent_dim, rng, temperature)

    def warm_up(self) -> None:
        """Run each graph once (ONNX Runtime allocates on first run) and check output shapes."""
        try:
            codes = self.encode(np.zeros((1, *self.image_shape), np.float32))
            images = self.decode(codes.z_mean)
        except Exception as exc:  # ORT's own error types: the graph cannot run
            raise BundleInvalid(f"{self.name}: a warm-up run failed: {exc}") from None
        if codes.z_mean.shape != (1, self.latent_dim) or images.shape[1:] != self.image_shape:
            raise BundleInvalid(f"{self.name}: graphs give {codes.z_mean.shape} and {images.shape}")


def _static_shape(shape: Sequence[int | str | None]) -> Shape:
    return tuple(dim if isinstance(dim, int) else None for dim in shape)


def _describe(args: Sequence[ort.NodeArg]) -> str:
    return ", ".join(f"{arg.name} {arg.type} {list(arg.shape)}" for arg in args) or "none"


def _describe_shapes(shapes: dict[str, Shape]) -> str:
    return ", ".join(
        f"{name} tensor(float) {['N' if d is None else d for d in shape]}"
        for name, shape in shapes.items()
    )


def load_autoencoder(
    directory: Path,
    options: ort.SessionOptions | None = None,
    run_with: Callable[[Graph], Runner] | None = None,
    precision: Precision = "fp32",
) -> OnnxAutoencoder:
    """Read and verify a bundle (sha256, graph signatures), build it at `precision` and warm it
    up; BundleInvalid says why not."""
    model = OnnxAutoencoder(read_bundle(directory), options, run_with, precision)
    model.warm_up()
    return model


def session_options(threads: int) -> ort.SessionOptions:
    """Options for `threads` intra-op threads, every graph optimisation, and no spinning threads
    (several sessions share few cores: spinning would steal them from each other)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
