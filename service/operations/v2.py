"""The Open Inference Protocol (V2): each bundle's encoder and decoder as V2 models, their
metadata, and inference on them with JSON or binary tensor data (service.schemas.v2).

Inference runs the bundle's graphs through `OnnxAutoencoder.encode`/`decode`, as /v1 does: the
same inference pool, batcher and metrics. Inputs meet the limits of /v1: at most `max_items` rows,
a JSON header no bigger in structure than a valid request (counted before it is parsed), finite
values, images in [0, 1] and codes within ±MAX_ABS_LATENT."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
import orjson
from pydantic import ValidationError

from service import __version__
from service.bodies import byte_count, validation_detail
from service.errors import InvalidInput, ModelNotFound, ModelUnavailable
from service.registry import ModelRegistry
from service.runtime import InferencePool, in_pool
from service.schemas.latents import MAX_ABS_LATENT
from service.schemas.v2 import (
    DYNAMIC,
    FP32,
    GRAPHS,
    HEADER_LENGTH,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    RequestInput,
    ResponseOutput,
    ServerMetadata,
    TensorMetadata,
)
from vae_core.errors import location
from vae_core.graphs import OnnxAutoencoder

# Arrays and objects in a valid header: the request, its parameters, a few inputs and outputs with
# their shapes and parameters. Tensor data is one flat list, however long.
MAX_HEADER_STRUCTURES = 64
HEADER_SLACK = 64  # numbers beside the tensor data: shapes, sizes, ids


@dataclass(frozen=True)
class V2Model:
    """One graph of a bundle, as a V2 model: `<bundle>.encoder` or `<bundle>.decoder`."""

    model: OnnxAutoencoder
    graph: str

    @property
    def name(self) -> str:
        return f"{self.model.name}.{self.graph}"

    def inputs(self) -> dict[str, tuple[int, ...]]:
        """Each input's shape after the batch axis."""
        if self.graph == "encoder":
            return {"image": self.model.image_shape}
        return {"z": (self.model.latent_dim,)}

    def outputs(self) -> dict[str, tuple[int, ...]]:
        if self.graph == "decoder":
            return {"image": self.model.image_shape}
        codes: tuple[int, ...] = (self.model.latent_dim,)
        variance = {"z_log_var": codes} if self.model.manifest.kind == "vae" else {}
        return {"z_mean": codes} | variance

    def metadata(self) -> ModelMetadata:
        return ModelMetadata(
            name=self.name, inputs=_tensors(self.inputs()), outputs=_tensors(self.outputs())
        )

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self.graph == "decoder":
            return {"image": self.model.decode(batch)}
        codes = self.model.encode(batch)
        variance = {} if codes.z_log_var is None else {"z_log_var": codes.z_log_var}
        return {"z_mean": codes.z_mean} | variance


def v2_model(registry: ModelRegistry, name: str) -> V2Model:
    """The V2 model called `name`: 404 unless it is `<bundle>.encoder` or `<bundle>.decoder` of a
    known bundle, 503 if that bundle is broken."""
    bundle, _, graph = name.rpartition(".")
    if graph not in GRAPHS or not registry.known(bundle):
        raise ModelNotFound(
            f"no model named {name!r}; each bundle serves two, <bundle>.encoder and "
            "<bundle>.decoder (GET /v1/models lists the bundles)"
        )
    return V2Model(registry.get(bundle), graph)


def _tensors(shapes: dict[str, tuple[int, ...]]) -> list[TensorMetadata]:
    return [TensorMetadata(name=n, shape=[DYNAMIC, *shape]) for n, shape in shapes.items()]


@dataclass(frozen=True)
class InferenceReply:
    """A V2 inference response: its JSON header and the binary outputs after it (maybe none)."""

    header: bytes
    binary: bytes

    @property
    def headers(self) -> dict[str, str]:
        return {HEADER_LENGTH: str(len(self.header))} if self.binary else {}

    @property
    def media_type(self) -> str:
        return "application/octet-stream" if self.binary else "application/json"


@dataclass(frozen=True)
class InferenceOperations:
    """The V2 endpoints' work; `infer` runs in the inference pool."""

    registry: ModelRegistry
    pool: InferencePool
    max_items: int

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata(name="vae-serve", version=__version__)

    def model_ready(self, name: str) -> bool:
        """Whether the V2 model serves now (its bundle is not broken); 404 if there is none."""
        try:
            v2_model(self.registry, name)
        except ModelUnavailable:
            return False
        return True

    @in_pool
    def infer(self, target: V2Model, body: bytes, header_length: str | None) -> InferenceReply:
        header, binary = _split(body, header_length)
        _check_header_size(header, self.max_items * max(map(prod, target.inputs().values())))
        request = _parsed(header)
        batch = _input_batch(target, request.inputs, binary, self.max_items)
        outputs = target.run(batch)
        return _reply(target, request, outputs)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor data after it."""
    if header_length is None:
        return body, b""
    length = byte_count(header_length)
    if length is None or not 0 < length <= len(body):
        raise InvalidInput(
            f"{HEADER_LENGTH} must be the JSON header's length in bytes, between 1 and the "
            f"body's {len(body)}; got {header_length[:32]!r}"
        )
    return body[:length], body[length:]


def _check_header_size(header: bytes, max_values: int) -> None:
    """422 for a header bigger in structure than any valid request, before it is parsed (parsing
    builds every value first, ~40 bytes a number); counts include brackets and commas in strings."""
    structures = header.count(b"[") + header.count(b"{")
    values = header.count(b",")
    if structures > MAX_HEADER_STRUCTURES or values > max_values + HEADER_SLACK:
        raise InvalidInput(
            f"the JSON header holds {structures} arrays and objects and {values} commas, more "
            f"than any valid request (at most {MAX_HEADER_STRUCTURES} and "
            f"{max_values + HEADER_SLACK}: tensor data is one flat list)",
            detail={"structures": structures, "values": values},
        )


def _parsed(header: bytes) -> InferenceRequest:
    try:
        return InferenceRequest.model_validate_json(header)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise InvalidInput(
            f"invalid inference request: {location(first['loc'])}: {first['msg']}",
            detail=validation_detail(exc),
        ) from None


def _input_batch(
    target: V2Model, inputs: list[RequestInput], binary: bytes, max_items: int
) -> np.ndarray:
    """The one input tensor, checked against the model's signature and the limits."""
    ((name, dims),) = target.inputs().items()
    if [i.name for i in inputs] != [name]:
        raise InvalidInput(
            f"model {target.name!r} takes one input, {name!r}; got {[i.name for i in inputs]}"
        )
    tensor = inputs[0]
    expected = f"[N, {', '.join(map(str, dims))}] with 1 <= N <= {max_items}"
    if tensor.datatype != FP32:
        raise InvalidInput(f"input {name!r} must be {FP32}, got {tensor.datatype[:32]!r}")
    if tuple(tensor.shape[1:]) != dims or not 1 <= tensor.shape[0] <= max_items:
        raise InvalidInput(f"input {name!r} must have shape {expected}, got {tensor.shape}")
    array = _tensor_data(tensor, binary).reshape(tensor.shape)
    _check_values(name, array)
    return array


def _tensor_data(tensor: RequestInput, binary: bytes) -> np.ndarray:
    count = prod(tensor.shape)
    size = tensor.parameters.binary_data_size
    if size is None:
        if tensor.data is None or len(tensor.data) != count or binary:
            raise InvalidInput(
                f"input {tensor.name!r} needs {count} numbers in a flat `data` list, or "
                "binary_data_size and the bytes after the JSON header; "
                f"got {'no data' if tensor.data is None else len(tensor.data)}"
                + (f" and {len(binary)} bytes after the header" if binary else "")
            )
        return np.asarray(tensor.data, dtype=np.float32)
    if tensor.data is not None or size != 4 * count or len(binary) != size:
        raise InvalidInput(
            f"input {tensor.name!r} with shape {tensor.shape} needs binary_data_size {4 * count} "
            f"and exactly that many bytes after the JSON header; got binary_data_size {size} "
            f"and {len(binary)} bytes" + (" beside a data list" if tensor.data is not None else "")
        )
    return np.frombuffer(binary, dtype="<f4").astype(np.float32)


def _check_values(name: str, array: np.ndarray) -> None:
    """Images in [0, 1], codes within ±MAX_ABS_LATENT: bounds inside which every served graph
    gives finite outputs."""
    low, high = (0.0, 1.0) if name == "image" else (-MAX_ABS_LATENT, MAX_ABS_LATENT)
    if not np.isfinite(array).all() or array.min() < low or array.max() > high:
        raise InvalidInput(
            f"every value of input {name!r} must be finite and in [{low:g}, {high:g}]"
        )


def _reply(
    target: V2Model, request: InferenceRequest, outputs: dict[str, np.ndarray]
) -> InferenceReply:
    """The requested outputs (all when none are named), each as JSON or binary data."""
    default_binary = request.parameters.binary_data_output
    wanted = request.outputs or []
    unknown = [o.name for o in wanted if o.name not in outputs]
    if unknown:
        raise InvalidInput(
            f"model {target.name!r} has outputs {list(outputs)}; no {unknown[0][:64]!r}"
        )
    binary_of = {o.name: o.parameters.binary_data for o in wanted}
    names = list(binary_of) if wanted else list(outputs)
    parts, blobs = [], []
    for name in names:
        array = outputs[name]
        as_binary = binary_of.get(name)
        if as_binary is None:
            as_binary = default_binary
        if as_binary:
            blob = np.ascontiguousarray(array, dtype="<f4").tobytes()
            blobs.append(blob)
            parts.append(
                ResponseOutput(
                    name=name, shape=list(array.shape), parameters={"binary_data_size": len(blob)}
                )
            )
        else:
            parts.append(
                ResponseOutput(name=name, shape=list(array.shape), data=array.ravel().tolist())
            )
    response = InferenceResponse(model_name=target.name, id=request.id, outputs=parts)
    header = orjson.dumps(response.model_dump(exclude_none=True))
    return InferenceReply(header, b"".join(blobs))
