"""The exact rewrites of training.rewrites give the outputs of the graphs they replace, and of
PyTorch: BatchNormalization folded, ConvTranspose and the final Conv as MatMul + Col2Im."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.training.conftest import TINY
from training.config import ModelConfig
from training.datasets.splits import DatasetSplits
from training.export import export_onnx
from training.models import AnyAutoencoder, build_model
from training.rewrites import (
    REWRITE_MIN_SPEEDUP,
    as_matmul_col2im,
    convolutions,
    exact_fp32,
    final_convolution,
    fold_batch_norms,
    rewrite_if_faster,
    transposed_convolutions,
)
from vae_core import bundle

pytestmark = pytest.mark.unit

# The book's decoder in small, and the faces' kind: BatchNorm, LeakyReLU, three channels.
CONFIGS = {
    "book": TINY,
    "faces": dataclasses.replace(
        TINY, channels=3, image_size=16, latent_dim=5, norm="batch", activation="leaky_relu"
    ),
}
TOLERANCE = 1e-5


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def exported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[AnyAutoencoder, Path]:
    """A network with non-trivial BatchNorm statistics, exported as export does."""
    torch.manual_seed(0)
    model = build_model(CONFIGS[request.param])
    norms = (
        m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d)
    )
    for norm in norms:
        norm.running_mean.uniform_(-0.5, 0.5)  # type: ignore[operator]
        norm.running_var.uniform_(0.5, 2.0)  # type: ignore[operator]
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    folder = tmp_path_factory.mktemp(request.param)
    export_onnx(model.eval(), folder)
    return model, folder


@pytest.fixture(scope="module")
def codes(exported: tuple[AnyAutoencoder, Path], small_fashion: DatasetSplits) -> np.ndarray:
    """The network's z_mean of real test images (gray images repeated for three channels)."""
    model, _ = exported
    config: ModelConfig = model.config
    pixels = small_fashion.preprocessing.to_tensor(small_fashion.test.pixels[:32])
    images = torch.nn.functional.interpolate(torch.from_numpy(pixels), size=config.image_size)
    with torch.no_grad():
        code = model.encode(images.repeat(1, config.channels, 1, 1))
    return (code if isinstance(code, torch.Tensor) else code.mean).numpy()


def _decode(model: onnx.ModelProto | AnyAutoencoder, z: np.ndarray) -> np.ndarray:
    if isinstance(model, onnx.ModelProto):
        session = ort.InferenceSession(model.SerializeToString())
        return session.run(None, {"z": z})[0]  # type: ignore[no-any-return]
    with torch.no_grad():
        return model.decode(torch.from_numpy(z)).numpy()


def test_folding_batch_norms_gives_the_networks_images(
    exported: tuple[AnyAutoencoder, Path], codes: np.ndarray
) -> None:
    model, folder = exported
    original = onnx.load(folder / bundle.DECODER)
    folded = fold_batch_norms(original)
    assert not any(node.op_type == "BatchNormalization" for node in folded.graph.node)
    had_norms = any(node.op_type == "BatchNormalization" for node in original.graph.node)
    assert had_norms == (model.config.norm == "batch")
    np.testing.assert_allclose(_decode(folded, codes), _decode(model, codes), atol=TOLERANCE)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_every_convolution_as_matmul_and_col2im_gives_the_networks_images(
    exported: tuple[AnyAutoencoder, Path], codes: np.ndarray, layout: str
) -> None:
    model, folder = exported
    folded = fold_batch_norms(onnx.load(folder / bundle.DECODER))
    layouts = dict.fromkeys(transposed_convolutions(folded), layout)
    layouts |= dict.fromkeys(final_convolution(folded), "channels_first")
    assert len(layouts) == len(model.config.widths) + 1
    rewritten = as_matmul_col2im(folded, layouts)  # type: ignore[arg-type]
    ops = [node.op_type for node in rewritten.graph.node]
    assert "ConvTranspose" not in ops and "Conv" not in ops
    assert ops.count("Col2Im") == ops.count("MatMul") == len(layouts)
    assert max(o.version for o in rewritten.opset_import if o.domain in ("", "ai.onnx")) == 18
    np.testing.assert_allclose(_decode(rewritten, codes), _decode(model, codes), atol=TOLERANCE)


def test_exact_fp32_rewrites_the_final_convolution_and_leaves_the_encoder(
    exported: tuple[AnyAutoencoder, Path], codes: np.ndarray
) -> None:
    model, folder = exported
    rewritten = exact_fp32(onnx.load(folder / bundle.DECODER))
    assert rewritten is not None
    ops = [node.op_type for node in rewritten.graph.node]
    assert ops.count("ConvTranspose") == len(model.config.widths) and "Conv" not in ops
    np.testing.assert_allclose(_decode(rewritten, codes), _decode(model, codes), atol=TOLERANCE)
    encoder = onnx.load(folder / bundle.ENCODER)  # stride-2 convs, batch norms folded by torch
    assert exact_fp32(encoder) is None
    stride_two = next(node.name for node in encoder.graph.node if node.op_type == "Conv")
    with pytest.raises(ValueError, match="only a stride-1 Conv"):
        convolutions(encoder, [stride_two])


def test_the_rewrite_replaces_the_graph_only_when_faster_and_keeps_its_outputs(
    exported: tuple[AnyAutoencoder, Path], codes: np.ndarray, tmp_path: Path
) -> None:
    _, folder = exported
    path = tmp_path / bundle.DECODER
    shutil.copy(folder / bundle.DECODER, path)
    speedup = rewrite_if_faster(path)
    assert speedup is not None and speedup > 0
    kept = onnx.load(path)
    rewritten = "Col2Im" in {node.op_type for node in kept.graph.node}
    assert rewritten == (speedup >= REWRITE_MIN_SPEEDUP)
    original = onnx.load(folder / bundle.DECODER)
    np.testing.assert_allclose(_decode(kept, codes), _decode(original, codes), atol=TOLERANCE)
    encoder = tmp_path / bundle.ENCODER
    shutil.copy(folder / bundle.ENCODER, encoder)
    assert rewrite_if_faster(encoder) is None
    assert encoder.read_bytes() == (folder / bundle.ENCODER).read_bytes()
