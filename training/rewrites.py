"""Exact rewrites of an exported ONNX graph: the same function in other operators.

- A BatchNormalization after a ConvTranspose, Conv or Gemm is folded into its weights and bias
  (y = γ (x - μ) / √(σ² + ε) + β is per output channel).
- A ConvTranspose is a MatMul followed by Col2Im (opset 18) plus the bias: each input pixel's
  C_in values times the weights [C_in, C_out·k·k] give its C_out·k·k contributions, and Col2Im
  adds them into the output at stride s. A stride-1 Conv is the same with its kernel flipped and
  the padding k - 1 - p. ONNX Runtime has int8 kernels for MatMul, none for ConvTranspose.

Two layouts of that MatMul: `channels_first` multiplies the weights [C_out·k·k, C_in] by each
image's [C_in, H·W] (no transposes: the fast fp32 form), `channels_last` multiplies each image's
pixels [H·W, C_in] by the weights [C_in, C_out·k·k] (the weights are the second operand, which
ONNX Runtime's int8 MatMul packs once with a scale per output column).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper, version_converter

from training.speed import graph_seconds, one_thread_session

Layout = Literal["channels_first", "channels_last"]
COL2IM_OPSET = 18
FOLDABLE = ("ConvTranspose", "Conv", "Gemm")
REWRITE_MIN_SPEEDUP = 1.02  # the exact fp32 rewrite replaces a graph from this speed-up up
REWRITE_BATCHES = (1, 32)
REWRITE_TOLERANCE = 1e-5  # the most |rewritten - original| output allowed
DECODER_REWRITE_SPEEDUP = "decoder_rewrite_speedup"  # the manifest's metric of it


@dataclass(frozen=True)
class Convolution:
    """A ConvTranspose or a stride-1 Conv, as MatMul + Col2Im sees it: weights [C_out·k·k, C_in]
    ordered (output channel, kernel row, kernel column), bias [C_out], Col2Im's attributes."""

    node: onnx.NodeProto
    weights: np.ndarray
    bias: np.ndarray | None
    input_shape: tuple[int, ...]  # [1, C_in, H, W]
    output_shape: tuple[int, ...]  # [1, C_out, H', W']
    kernel: tuple[int, int]
    strides: list[int]
    pads: list[int]


def fold_batch_norms(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold every BatchNormalization whose input is a foldable node's only use."""
    model = _copy(model)
    graph = model.graph
    weights = _initializers(model)
    producer = {output: node for node in graph.node for output in node.output}
    for norm in [n for n in graph.node if n.op_type == "BatchNormalization"]:
        node = producer.get(norm.input[0])
        if node is None or node.op_type not in FOLDABLE or _uses(graph, norm.input[0]) != 1:
            continue
        if not _fold(node, norm, weights, graph):
            continue
        node.output[0] = norm.output[0]
        graph.node.remove(norm)
    _drop_unused_initializers(graph)
    return model


def _fold(
    node: onnx.NodeProto,
    norm: onnx.NodeProto,
    weights: dict[str, np.ndarray],
    graph: onnx.GraphProto,
) -> bool:
    """Scale `node`'s weights and bias by `norm` in place; False if the shapes do not allow it."""
    names = list(norm.input[1:5])
    if not all(name in weights for name in names) or node.input[1] not in weights:
        return False
    gamma, beta, mean, var = (weights[name].astype(np.float64) for name in names)
    scale = gamma / np.sqrt(var + _attributes(norm).get("epsilon", 1e-5))
    w = weights[node.input[1]].astype(np.float64)
    axis = _output_axis(node, w)
    if axis is None:
        return False
    shape = [1] * w.ndim
    shape[axis] = -1
    bias = weights[node.input[2]] if len(node.input) > 2 and node.input[2] else 0.0
    new_bias = (np.asarray(bias, np.float64) - mean) * scale + beta
    _set(graph, weights, node.input[1], (w * scale.reshape(shape)).astype(np.float32))
    bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else f"{node.name}/bias"
    _set(graph, weights, bias_name, new_bias.astype(np.float32))
    if len(node.input) < 3:
        node.input.append(bias_name)
    return True


def _output_axis(node: onnx.NodeProto, w: np.ndarray) -> int | None:
    """The weights' output-channel axis; None for a form this does not fold (groups, alpha)."""
    attributes = _attributes(node)
    if attributes.get("group", 1) != 1:
        return None
    if node.op_type == "Gemm":
        if attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0:
            return None
        if attributes.get("transA", 0):
            return None
        return 0 if attributes.get("transB", 0) else 1
    return 1 if node.op_type == "ConvTranspose" else 0


def convolutions(model: onnx.ModelProto, names: Iterable[str]) -> list[Convolution]:
    """The named ConvTranspose and stride-1 Conv nodes as MatMul + Col2Im sees them; ValueError
    for one this cannot rewrite (groups, dilations, auto_pad, weights that are not constants)."""
    wanted = set(names)
    nodes = [node for node in model.graph.node if node.name in wanted]
    if len(nodes) != len(wanted):
        raise ValueError(f"no nodes named {sorted(wanted - {n.name for n in nodes})}")
    shapes = probe_shapes(model, [t for n in nodes for t in (n.input[0], n.output[0])])
    weights = _initializers(model)
    return [_convolution(node, weights, shapes) for node in nodes]


def _convolution(
    node: onnx.NodeProto, weights: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]
) -> Convolution:
    attributes = _attributes(node)
    plain = all(d == 1 for d in attributes.get("dilations", [1, 1]))
    plain = plain and attributes.get("group", 1) == 1
    plain = plain and attributes.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    if node.op_type not in ("ConvTranspose", "Conv") or not plain or node.input[1] not in weights:
        raise ValueError(f"{node.name}: not a plain ConvTranspose or Conv with constant weights")
    w = weights[node.input[1]]
    kernel = (int(w.shape[2]), int(w.shape[3]))
    strides = list(attributes.get("strides", [1, 1]))
    pads = list(attributes.get("pads", [0, 0, 0, 0]))
    if node.op_type == "Conv":
        if strides != [1, 1] or any(p > k - 1 for p, k in zip(pads, kernel * 2, strict=True)):
            raise ValueError(f"{node.name}: only a stride-1 Conv with pads < kernel is rewritten")
        # out[y] = Σ w[i] x[y + i - p]: input pixel u adds w[k-1-i'] into output u + i' - (k-1-p).
        w = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        pads = [k - 1 - p for p, k in zip(pads, kernel * 2, strict=True)]
    _check_blocks(node.name, shapes[node.input[0]], shapes[node.output[0]], kernel, strides, pads)
    c_in, c_out = w.shape[:2]
    columns = w.transpose(1, 2, 3, 0).reshape(c_out * kernel[0] * kernel[1], c_in)
    bias = weights[node.input[2]] if len(node.input) > 2 and node.input[2] else None
    return Convolution(
        node, np.ascontiguousarray(columns, np.float32), bias,
        shapes[node.input[0]], shapes[node.output[0]], kernel, strides, pads,
    )  # fmt: skip


def _check_blocks(
    name: str,
    x: tuple[int, ...],
    y: tuple[int, ...],
    kernel: tuple[int, int],
    strides: list[int],
    pads: list[int],
) -> None:
    """Col2Im takes one block per input pixel only if its output size and pads give that many."""
    for axis in range(2):
        blocks = (y[2 + axis] + pads[axis] + pads[2 + axis] - kernel[axis]) // strides[axis] + 1
        if blocks != x[2 + axis]:
            raise ValueError(
                f"{name}: Col2Im would take {blocks} blocks on axis {axis}, not {x[2 + axis]}"
            )


def as_matmul_col2im(model: onnx.ModelProto, layouts: dict[str, Layout]) -> onnx.ModelProto:
    """Rewrite each named convolution (`convolutions`) as MatMul + Col2Im (+ bias) in its layout;
    the MatMul is named `<node>/MatMul`. The graph moves to opset 18 (Col2Im's)."""
    model = to_opset(model, COL2IM_OPSET)
    graph = model.graph
    rewritten = {conv.node.name: conv for conv in convolutions(model, layouts)}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        conv = rewritten.get(node.name)
        nodes += [node] if conv is None else _col2im_nodes(graph, conv, layouts[node.name])
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph)
    onnx.checker.check_model(model)
    return model


def _col2im_nodes(
    graph: onnx.GraphProto, conv: Convolution, layout: Layout
) -> list[onnx.NodeProto]:
    name, x = conv.node.name, conv.node.input[0]
    _, c_in, height, width = conv.input_shape

    def constant(suffix: str, value: np.ndarray) -> str:
        graph.initializer.append(numpy_helper.from_array(value, f"{name}/{suffix}"))
        return f"{name}/{suffix}"

    def node(op: str, inputs: list[str], output: str, label: str, **kwargs: Any) -> None:
        nodes.append(helper.make_node(op, inputs, [output], name=f"{name}/{label}", **kwargs))

    nodes: list[onnx.NodeProto] = []
    if layout == "channels_first":
        shape = constant("shape", np.array([0, c_in, height * width]))
        node("Reshape", [x, shape], f"{name}/x", "Reshape")
        node(
            "MatMul", [constant("weights", conv.weights), f"{name}/x"], f"{name}/columns", "MatMul"
        )
    else:
        node("Transpose", [x], f"{name}/nhwc", "ToChannelsLast", perm=[0, 2, 3, 1])
        shape = constant("shape", np.array([0, height * width, c_in]))
        node("Reshape", [f"{name}/nhwc", shape], f"{name}/x", "Reshape")
        weights = constant("weights", np.ascontiguousarray(conv.weights.T))
        node("MatMul", [f"{name}/x", weights], f"{name}/rows", "MatMul")
        node("Transpose", [f"{name}/rows"], f"{name}/columns", "ToColumns", perm=[0, 2, 1])
    image = f"{name}/image" if conv.bias is not None else conv.node.output[0]
    sizes = [constant("image_shape", np.array(conv.output_shape[2:])),
             constant("block_shape", np.array(conv.kernel))]  # fmt: skip
    node(
        "Col2Im", [f"{name}/columns", *sizes], image, "Col2Im", strides=conv.strides, pads=conv.pads
    )
    if conv.bias is not None:
        bias = constant("bias", conv.bias.reshape(-1, 1, 1).astype(np.float32))
        node("Add", [image, bias], conv.node.output[0], "Bias")
    return nodes


def exact_fp32(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """The fp32 rewrite that may run faster by itself: BatchNormalization folded, and the final
    stride-1 Conv as MatMul + Col2Im (channels first: for a few output channels, its im2col
    costs more than the product); None if the graph has neither."""
    folded = fold_batch_norms(model)
    final = final_convolution(folded)
    if not final and len(folded.graph.node) == len(model.graph.node):
        return None
    return as_matmul_col2im(folded, dict.fromkeys(final, "channels_first"))


def rewrite_if_faster(path: Path) -> float | None:
    """Replace the graph at `path` by its `exact_fp32` rewrite if that runs at least
    REWRITE_MIN_SPEEDUP times as fast (one thread, the geometric mean over REWRITE_BATCHES) and
    gives the same outputs within REWRITE_TOLERANCE; the speed-up measured (None: nothing to
    rewrite). ValueError if the outputs differ."""
    original = onnx.load(path)
    candidate = exact_fp32(original)
    if candidate is None:
        return None
    sessions = [one_thread_session(model) for model in (original, candidate)]
    width = sessions[0].get_inputs()[0].shape[1:]
    inputs = np.random.default_rng(0).standard_normal((max(REWRITE_BATCHES), *width))
    outputs = [session.run(None, {session.get_inputs()[0].name: inputs.astype(np.float32)})
               for session in sessions]  # fmt: skip
    difference = max(float(np.abs(a - b).max()) for a, b in zip(*outputs, strict=True))
    if difference > REWRITE_TOLERANCE:
        raise ValueError(f"{path}: the rewrite differs by {difference:.2e} > {REWRITE_TOLERANCE}")
    timings = [graph_seconds(sessions, inputs[:batch]) for batch in REWRITE_BATCHES]
    speedup = float(np.exp(np.mean([np.log(before / after) for before, after in timings])))
    if speedup >= REWRITE_MIN_SPEEDUP:
        onnx.save(candidate, path)
    return speedup


def transposed_convolutions(model: onnx.ModelProto) -> list[str]:
    return [node.name for node in model.graph.node if node.op_type == "ConvTranspose"]


def final_convolution(model: onnx.ModelProto) -> list[str]:
    """The last Conv of the graph, if it is stride 1 (a decoder's output layer); else none."""
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    if not convs or _attributes(convs[-1]).get("strides", [1, 1]) != [1, 1]:
        return []
    return [convs[-1].name]


def probe_shapes(model: onnx.ModelProto, tensors: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """The shapes of these tensors for one input row (each input's other axes are static)."""
    probe = _copy(model)
    names = list(dict.fromkeys(tensors))
    known = {output.name for output in probe.graph.output}
    probe.graph.output.extend(
        helper.make_empty_tensor_value_info(name) for name in names if name not in known
    )
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {arg.name: np.zeros([1, *arg.shape[1:]], np.float32) for arg in session.get_inputs()}
    return {name: out.shape for name, out in zip(names, session.run(names, feed), strict=True)}


def to_opset(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """The model at this opset of the default domain, or above if it already is."""
    current = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return _copy(model) if current >= opset else version_converter.convert_version(model, opset)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _set(
    graph: onnx.GraphProto, weights: dict[str, np.ndarray], name: str, value: np.ndarray
) -> None:
    for i, initializer in enumerate(graph.initializer):
        if initializer.name == name:
            graph.initializer[i].CopyFrom(numpy_helper.from_array(value, name))
            break
    else:
        graph.initializer.append(numpy_helper.from_array(value, name))
    weights[name] = value


def _uses(graph: onnx.GraphProto, tensor: str) -> int:
    outputs = sum(output.name == tensor for output in graph.output)
    return outputs + sum(name == tensor for node in graph.node for name in node.input)


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
