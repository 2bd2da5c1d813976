"""ONNX Runtime sessions and the latent-space maths of one loaded bundle. No HTTP here.

One `Graph` wraps one `InferenceSession`, shared by every request (sessions are thread-safe). All
ONNX execution goes through `Graph.run`, where the dynamic batcher (service.batching), when on,
merges concurrent calls into one session run.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, TypeVarTuple

import numpy as np
import onnxruntime as ort

from service import bundle
from service.batching import Batcher
from service.bundle import AttributeVector, Manifest
from service.errors import BundleInvalid, InferenceTimeout, Overloaded
from service.latent import InterpolationMethod, interpolate, reparameterize

# Called after every session run with (model, graph, seconds, batch rows): the metrics hook.
InferenceObserver = Callable[[str, str, float, int], None]
Shape = tuple[int | None, ...]  # None: a dynamic (batch) axis
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class BatchingOptions:
    """Merge concurrent runs of a graph: at most `max_rows` rows, waiting at most `max_wait` s."""

    max_rows: int = 64
    max_wait: float = 0.002


@dataclass(frozen=True)
class RuntimeOptions:
    intra_op_threads: int = 1
    observe: InferenceObserver | None = None
    batching: BatchingOptions | None = None  # None: every call runs alone

    def session_options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Several sessions share few cores: spinning threads would steal them from each other.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options


@dataclass(frozen=True)
class Codes:
    """The encoder's output: q(z|x) = N(z_mean, exp(z_log_var)) for a VAE; a point for an AE."""

    z_mean: np.ndarray
    z_log_var: np.ndarray | None


class Graph:
    """One ONNX graph with one float32 input, checked against the shapes the bundle promises."""

    def __init__(self, model: str, path: Path, options: RuntimeOptions):
        self.model = model
        self.name = path.stem
        self._path = path
        self._observe = options.observe
        try:
            self._session = ort.InferenceSession(
                str(path), options.session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own types for unparsable or invalid graphs
            raise BundleInvalid(f"{path}: ONNX Runtime cannot load it: {exc}") from None
        self.input_name = self._session.get_inputs()[0].name
        self.output_names = [output.name for output in self._session.get_outputs()]
        batching = options.batching
        self._batcher = (
            None
            if batching is None
            else Batcher(self._run_now, batching.max_rows, batching.max_wait)
        )

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
                    f"{self._path}: {role} are {_describe(actual)}, expected {wanted}"
                )

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """One batch through the graph (merged with concurrent calls when batching): its outputs
        by name, only this batch's rows."""
        if self._batcher is not None:
            return self._batcher.run(batch)
        return self._run_now(batch)

    def _run_now(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        outputs = self._session.run(self.output_names, {self.input_name: batch})
        if self._observe is not None:
            self._observe(self.model, self.name, time.perf_counter() - start, len(batch))
        return dict(zip(self.output_names, outputs, strict=True))


class Model:
    """A validated, warmed bundle: encode, decode, sample and move through its latent space."""

    def __init__(self, directory: Path, manifest: Manifest, options: RuntimeOptions):
        self.name = directory.name
        self.manifest = manifest
        self.attributes: dict[str, AttributeVector] = {
            vector.name: vector
            for vector in bundle.read_attributes(directory / bundle.ATTRIBUTES, manifest.latent_dim)
        }
        self.encoder = Graph(self.name, directory / bundle.ENCODER, options)
        self.decoder = Graph(self.name, directory / bundle.DECODER, options)
        image: Shape = (None, manifest.image.channels, manifest.image.height, manifest.image.width)
        codes: Shape = (None, manifest.latent_dim)
        outputs = {"z_mean": codes} | ({"z_log_var": codes} if manifest.kind == "vae" else {})
        self.encoder.check_signature({"image": image}, outputs)
        self.decoder.check_signature({"z": codes}, {"image": image})

    @property
    def latent_dim(self) -> int:
        return self.manifest.latent_dim

    @property
    def encoder_sha256(self) -> str:
        """Identifies the latent space: vectors computed with another encoder do not apply."""
        return self.manifest.files[bundle.ENCODER]

    def warm_up(self) -> None:
        """Run each graph once (ONNX Runtime allocates on first run) and check output shapes."""
        spec = self.manifest.image
        image_shape = (spec.channels, spec.height, spec.width)
        try:
            codes = self.encode(np.zeros((1, *image_shape), np.float32))
            images = self.decode(codes.z_mean)
        except Exception as exc:  # ORT's own error types: the graph cannot run
            raise BundleInvalid(f"{self.name}: a warm-up run failed: {exc}") from None
        if codes.z_mean.shape != (1, self.latent_dim) or images.shape[1:] != image_shape:
            raise BundleInvalid(f"{self.name}: graphs give {codes.z_mean.shape} and {images.shape}")

    def encode(self, images: np.ndarray) -> Codes:
        """images [N, C, H, W] in [0, 1] -> Codes."""
        outputs = self.encoder.run(images)
        return Codes(z_mean=outputs["z_mean"], z_log_var=outputs.get("z_log_var"))

    def decode(self, z: np.ndarray) -> np.ndarray:
        """z [N, D] -> images [N, C, H, W] in [0, 1]."""
        return self.decoder.run(np.ascontiguousarray(z, dtype=np.float32))["image"]

    def posterior_sample(self, codes: Codes, rng: np.random.Generator) -> np.ndarray:
        """z ~ q(z|x) by the reparameterization trick; an AE's posterior is the point z_mean."""
        if codes.z_log_var is None:
            return codes.z_mean
        eps = rng.standard_normal(codes.z_mean.shape, dtype=np.float32)
        return reparameterize(codes.z_mean, codes.z_log_var, eps)

    def prior_sample(self, n: int, rng: np.random.Generator, temperature: float) -> np.ndarray:
        """n codes from the prior: N(0, I)·t (VAE), or mean + L·eps·t (an AE's empirical prior)."""
        eps = rng.standard_normal((n, self.latent_dim), dtype=np.float32) * np.float32(temperature)
        prior = self.manifest.latent_prior
        if prior.kind == "standard_normal":
            return eps
        assert prior.mean is not None and prior.cholesky is not None  # the manifest checks this
        cholesky = np.asarray(prior.cholesky, dtype=np.float32)
        return (np.asarray(prior.mean, dtype=np.float32) + eps @ cholesky.T).astype(np.float32)

    @staticmethod
    def shift(z: np.ndarray, moves: Sequence[tuple[AttributeVector, float]]) -> np.ndarray:
        """z + Σ strength · vector: add (or, negative, subtract) attributes."""
        shifted = z.astype(np.float64)
        for vector, strength in moves:
            shifted = shifted + strength * vector.as_array().astype(np.float64)
        return shifted.astype(np.float32)

    @staticmethod
    def path(
        z_a: np.ndarray, z_b: np.ndarray, steps: int, method: InterpolationMethod
    ) -> np.ndarray:
        """`steps` codes from z_a to z_b inclusive."""
        return interpolate(z_a, z_b, steps, method)


class InferencePool:
    """Runs blocking inference work (decode, preprocess, ONNX, PNG) in its own worker threads, at
    most `concurrency` jobs at once, so the event loop stays free.

    Bounded: at most `concurrency + max_queue` jobs are admitted (running or waiting); past that a
    call raises Overloaded (503 + Retry-After) at once. A call that takes longer than `timeout`
    seconds, waiting included, raises InferenceTimeout (504); its job is cancelled if it has not
    started, and keeps its slot until it ends if it has, so the bound always holds."""

    def __init__(
        self, concurrency: int, max_queue: int = 64, timeout: float = 30.0, retry_after: int = 1
    ):
        self.concurrency = concurrency
        self.capacity = concurrency + max_queue
        self.timeout = timeout
        self.retry_after = retry_after
        self._admitted = 0
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Jobs running or waiting for a thread now."""
        return self._admitted

    async def run(self, work: Callable[[*Ts], T], *args: *Ts) -> T:
        self._admit()
        context = contextvars.copy_context()  # the request id reaches log lines in the worker
        try:
            future = self._pool().submit(lambda: context.run(work, *args))
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout)
        except TimeoutError:
            future.cancel()
            raise InferenceTimeout(
                f"inference took longer than {self.timeout:g} s", {"timeout_s": self.timeout}
            ) from None

    def close(self) -> None:
        """Finish the running jobs and stop the threads; a later `run` starts new ones."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.capacity:
                raise Overloaded(
                    f"the server is at capacity ({self.capacity} requests running or queued); "
                    f"retry in {self.retry_after} s",
                    {"capacity": self.capacity, "retry_after_s": self.retry_after},
                    headers={"Retry-After": str(self.retry_after)},
                )
            self._admitted += 1

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix="inference"
                )
            return self._executor


def load_model(directory: Path, options: RuntimeOptions) -> Model:
    """Read, verify (sha256, graph signatures) and warm one bundle; BundleInvalid says why not."""
    manifest = bundle.read_manifest(directory)
    bundle.verify_files(directory, manifest)
    model = Model(directory, manifest, options)
    model.warm_up()
    return model


def _static_shape(shape: Sequence[int | str | None]) -> Shape:
    return tuple(dim if isinstance(dim, int) else None for dim in shape)


def _describe(args: Sequence[ort.NodeArg]) -> str:
    return ", ".join(f"{arg.name} {arg.type} {list(arg.shape)}" for arg in args) or "none"


def _describe_shapes(shapes: dict[str, Shape]) -> str:
    return ", ".join(
        f"{name} tensor(float) {['N' if d is None else d for d in shape]}"
        for name, shape in shapes.items()
    )
