"""Wire types of the Open Inference Protocol (V2, KServe and Triton's REST protocol) and its binary
tensor data extension: each bundle's two graphs are V2 models, `<bundle>.encoder` and
`<bundle>.decoder`, with FP32 tensors in and out.

A tensor's data travels as a flat, row-major JSON list of numbers, or as raw little-endian bytes
after the JSON header (`parameters.binary_data_size`, with the header's length in the
`Inference-Header-Content-Length` HTTP header)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ("binary_tensor_data",)
PLATFORM = "onnxruntime_onnx"
FP32: Literal["FP32"] = "FP32"
GRAPHS = ("encoder", "decoder")
# A tensor's batch axis, in metadata: any number of rows.
DYNAMIC = -1

Number = StrictInt | StrictFloat


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str] = Field(default_factory=lambda: list(EXTENSIONS))


class Liveness(BaseModel):
    live: bool


class ServerReadiness(BaseModel):
    ready: bool


class ModelReadiness(BaseModel):
    name: str
    ready: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: str = FP32
    shape: list[int] = Field(description="-1 for the batch axis.")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(default_factory=list)
    platform: str = PLATFORM
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class _Message(BaseModel):
    # Parameters and fields beyond these are allowed (the protocol lets clients add their own)
    # and ignored; the ones read here must have the right type.
    model_config = ConfigDict(extra="ignore")


class InputParameters(_Message):
    binary_data_size: Annotated[int, Field(ge=0)] | None = None


class RequestInput(_Message):
    name: str
    shape: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=8)]
    datatype: str
    parameters: InputParameters = Field(default_factory=InputParameters)
    data: list[Number] | None = Field(None, description="Flat, row-major; absent when binary.")


class OutputParameters(_Message):
    binary_data: StrictBool | None = None


class RequestOutput(_Message):
    name: str
    parameters: OutputParameters = Field(default_factory=OutputParameters)


class RequestParameters(_Message):
    binary_data_output: StrictBool = False


class InferenceRequest(_Message):
    id: str | None = None
    parameters: RequestParameters = Field(default_factory=RequestParameters)
    inputs: Annotated[list[RequestInput], Field(min_length=1, max_length=8)]
    outputs: Annotated[list[RequestOutput], Field(max_length=8)] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Literal["FP32"] = FP32
    parameters: dict[str, Any] | None = None
    data: list[float] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    id: str | None = None
    outputs: list[ResponseOutput]
