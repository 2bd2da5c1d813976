"""The int8 recipe: from a bundle's fp32 graph and calibration inputs to an int8 graph.

The decoder is first rewritten exactly (training.rewrites): BatchNormalization folded, every
ConvTranspose as MatMul + Col2Im with the weights as the MatMul's second operand, the final Conv
as MatMul + Col2Im in fp32. Then ONNX Runtime's static quantizer puts QuantizeLinear /
DequantizeLinear pairs on the *inputs* of the MatMul nodes only, never on their outputs: ONNX
Runtime fuses each into one int8 product with a float result (MatMulIntegerToFloat), and Col2Im
adds the float contributions, whereas quantized partial sums would lose the small ones. The
encoder's Conv layers have int8 kernels as they are (QLinearConv). Some layers stay in fp32, where
int8 would move codes and pixels most for the least time saved: the encoder's first Conv (on the
image) and its last layers (the Gemm nodes giving z_mean and z_log_var), the decoder's dense layer
and its final convolution.

Weights are int8, symmetric, one scale per output column, in a 7-bit range: then the 16-bit
pair sums of CPUs without int8 dot products (AVX2) cannot saturate, so every CPU computes the same
integers and the gate's figures hold wherever the graph runs. Activations are uint8, one scale and
zero point per tensor, covering the `activation_percentile` of the calibration values (a few
outliers would otherwise coarsen every step).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from training.rewrites import (
    Layout,
    as_matmul_col2im,
    final_convolution,
    fold_batch_norms,
    transposed_convolutions,
)
from vae_core.precision import Int8Recipe
from vae_core.vocabulary import GraphName

CALIBRATION_BATCH = 100
# What each graph quantizes: the decoder's MatMul inputs; the encoder's Conv layers (with their
# activations, so each Conv's output is quantized once, after them).
QUANTIZED_OPS: dict[GraphName, list[str]] = {
    "decoder": ["MatMul"],
    "encoder": ["Conv", "Relu", "LeakyRelu"],
}
MATRIX_PRODUCTS = ("MatMul", "Gemm", "Conv", "ConvTranspose")


@dataclass(frozen=True)
class Recipe:
    """The knobs of the recipe (the defaults are what the shipped bundles use)."""

    activation_percentile: float = 99.999
    weight_bits: int = 7  # 7: reduce_range, no saturation without dot-product instructions

    def __post_init__(self) -> None:
        if self.weight_bits not in (7, 8):
            raise ValueError("weight_bits is 7 (reduce_range) or 8")

    def record(self, calibration: str) -> Int8Recipe:
        return Int8Recipe(
            rewrites=[
                "BatchNormalization folded into the preceding ConvTranspose, Conv or Gemm",
                "decoder: each ConvTranspose as Transpose, MatMul (weights second), Transpose, "
                "Col2Im and the bias; the final stride-1 Conv as MatMul (weights first) and "
                "Col2Im, in fp32",
            ],
            fp32_layers="encoder: the first Conv (on the image) and the Gemm layers giving "
            "z_mean and z_log_var; decoder: the dense (Gemm) layer and the final convolution",
            weights=f"int8, symmetric, one scale per output channel, {self.weight_bits}-bit range",
            activations="uint8, asymmetric, one scale and zero point per tensor; MatMul outputs "
            "stay float",
            calibration=calibration,
            activation_percentile=self.activation_percentile,
            weight_bits=self.weight_bits,
            quantized_ops=QUANTIZED_OPS,
        )


def int8_ready(name: GraphName, model: onnx.ModelProto) -> onnx.ModelProto:
    """The exact rewrite a graph gets before quantizing (the decoder's; the encoder's is a no-op
    unless it has a BatchNormalization left)."""
    folded = fold_batch_norms(model)
    if name == "encoder":
        return folded
    layouts: dict[str, Layout] = dict.fromkeys(transposed_convolutions(folded), "channels_last")
    layouts |= dict.fromkeys(final_convolution(folded), "channels_first")
    return as_matmul_col2im(folded, layouts)


def quantize(
    name: GraphName, model: onnx.ModelProto, calibration: np.ndarray, recipe: Recipe
) -> onnx.ModelProto:
    """The int8 graph of an fp32 graph, its activation ranges measured on `calibration` (the
    graph's inputs [N, ...])."""
    ready = int8_ready(name, model)
    keep_fp32 = _kept_in_fp32(name, ready)
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
        output = Path(scratch) / "int8.onnx"
        quantize_static(
            ready, output, _Batches(ready.graph.input[0].name, calibration),
            quant_format=QuantFormat.QDQ, op_types_to_quantize=QUANTIZED_OPS[name],
            per_channel=True, reduce_range=recipe.weight_bits == 7,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_fp32, calibrate_method=CalibrationMethod.Percentile,
            extra_options={
                "CalibPercentile": recipe.activation_percentile,
                "CalibStridedMinMax": 1,  # collect each batch's histograms, then drop its tensors
                "OpTypesToExcludeOutputQuantization": ["MatMul"],
                "MatMulConstBOnly": True,
            },
        )  # fmt: skip
        return onnx.load(output)


def _kept_in_fp32(name: GraphName, ready: onnx.ModelProto) -> list[str]:
    """In the rewritten graph: the decoder's final convolution (its last MatMul, the nodes being
    in order); the encoder's first convolution, on the image: few multiply-adds, and where int8
    moved the faces' codes most."""
    if name == "decoder":
        return [n.name for n in ready.graph.node if n.op_type == "MatMul"][-1:]
    image = ready.graph.input[0].name
    return [n.name for n in ready.graph.node if n.op_type == "Conv" and image in n.input]


def fp32_products(model: onnx.ModelProto) -> list[str]:
    """The matrix products of a quantized graph whose data input is not dequantized int8."""
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return [
        node.name
        for node in model.graph.node
        if node.op_type in MATRIX_PRODUCTS and node.input[0] not in dequantized
    ]


class _Batches(CalibrationDataReader):
    """The calibration inputs in batches, as ONNX Runtime's calibrator reads them: one range of
    batches at a time (`set_range`), so that it holds the activations of one range only (it
    keeps every tensor of what it reads until it has built their histograms)."""

    def __init__(self, input_name: str, inputs: np.ndarray):
        self._batches = [
            {input_name: np.ascontiguousarray(inputs[i : i + CALIBRATION_BATCH], np.float32)}
            for i in range(0, len(inputs), CALIBRATION_BATCH)
        ]
        self._range: Iterator[dict[str, np.ndarray]] = iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._range = iter(self._batches[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._range, None)
