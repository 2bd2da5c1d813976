"""Export a checkpoint as a model bundle (see `vae_core.bundle`): two ONNX graphs checked against
PyTorch on real images, attribute vectors, test metrics, the samplers fitted to the training codes
with the evaluation that ranks them (`record_samplers`, also run on its own on an existing bundle),
the anomaly calibration and its evaluation (`training.anomaly`), the latent map of the test images,
checksums."""

from __future__ import annotations

import platform
import shutil
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor, nn

from training.anomaly import write_anomaly
from training.classifier import feature_network_for
from training.config import CalibrationConfig, to_dict
from training.datasets.splits import DatasetSplits, LabeledImages
from training.errors import TrainingError
from training.evaluate import encode_means, test_metrics
from training.map_export import add_latent_map
from training.models import AnyAutoencoder, DiagonalGaussian
from training.quality import SAMPLES, SEED, Measurement, encode_pixels, measure
from training.rewrites import DECODER_REWRITE_SPEEDUP, REWRITE_MIN_SPEEDUP, rewrite_if_faster
from training.samplers import fit_gaussian, fit_mixture
from training.train import Checkpoint, load_run_dataset
from vae_core import bundle
from vae_core.calibration import MIN_VALIDATION
from vae_core.files import rewrite_folder, swap_folder, write_json_atomic
from vae_core.graphs import load_autoencoder, session_options
from vae_core.latent import attribute_record, empirical_prior
from vae_core.sampling import GaussianMixture, standard_normal, write_samplers
from vae_core.vocabulary import ModelKind, SamplerName

PARITY_TOLERANCE = 1e-4
OPSET = 17


class _EncoderGraph(nn.Module):
    """image -> z_mean (+ z_log_var): the deterministic half of the encoder, no sampling."""

    def __init__(self, model: AnyAutoencoder):
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        code = self.model.encode(image)
        return (code.mean, code.log_var) if isinstance(code, DiagonalGaussian) else code


class _DecoderGraph(nn.Module):
    def __init__(self, model: AnyAutoencoder):
        super().__init__()
        self.model = model

    def forward(self, z: Tensor) -> Tensor:
        return self.model.decode(z)


def export_onnx(model: AnyAutoencoder, out_dir: Path) -> None:
    """Write encoder.onnx and decoder.onnx with a dynamic batch axis."""
    cfg = model.config
    outputs = ["z_mean", "z_log_var"] if cfg.kind == "vae" else ["z_mean"]
    image = torch.zeros(2, cfg.channels, cfg.image_size, cfg.image_size)
    _export(_EncoderGraph(model), image, out_dir / bundle.ENCODER, ["image"], outputs)
    _export(
        _DecoderGraph(model),
        torch.zeros(2, cfg.latent_dim),
        out_dir / bundle.DECODER,
        ["z"],
        ["image"],
    )


def _export(
    graph: nn.Module, example: Tensor, path: Path, inputs: list[str], outputs: list[str]
) -> None:
    axes = {name: {0: "batch"} for name in inputs + outputs}
    torch.onnx.export(
        graph.eval(),
        (example,),
        str(path),
        input_names=inputs,
        output_names=outputs,
        dynamic_axes=axes,
        opset_version=OPSET,
        dynamo=False,
    )


def check_parity(model: AnyAutoencoder, out_dir: Path, images: np.ndarray) -> dict[str, float]:
    """Max |ONNX Runtime - PyTorch| on real images, per graph; raise above PARITY_TOLERANCE."""
    encoder = ort.InferenceSession(
        str(out_dir / bundle.ENCODER), providers=["CPUExecutionProvider"]
    )
    decoder = ort.InferenceSession(
        str(out_dir / bundle.DECODER), providers=["CPUExecutionProvider"]
    )
    with torch.no_grad():
        expected = _EncoderGraph(model)(torch.from_numpy(images))
        expected_codes = expected if isinstance(expected, tuple) else (expected,)
        z_mean = expected_codes[0]
        expected_images = model.decode(z_mean).numpy()
    got = encoder.run(None, {"image": images})
    diffs = {
        "encoder": max(
            float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected_codes, strict=True)
        ),
        "decoder": float(
            np.abs(decoder.run(None, {"z": z_mean.numpy()})[0] - expected_images).max()
        ),
    }
    print(f"ONNX parity on {len(images)} real images: max abs diff {diffs}")
    if max(diffs.values()) > PARITY_TOLERANCE:
        raise TrainingError(f"ONNX and PyTorch disagree by {diffs} (> {PARITY_TOLERANCE})")
    return diffs


def attribute_records(z_mean: np.ndarray, split: LabeledImages) -> list[bundle.AttributeVector]:
    """One vector per class or attribute (the book's method), with the counts behind it."""
    has = split.has_label()
    return [
        attribute_record(name, z_mean, has[:, column])
        for column, name in enumerate(split.label_names)
        # a column no image (or every image) has gives no vector, e.g. one the data never sets
        if has[:, column].any() and not has[:, column].all()
    ]


def export_bundle(
    checkpoint: Path,
    out_dir: Path,
    data: DatasetSplits | None = None,
    samples: int = SAMPLES,
    calibration: CalibrationConfig | None = None,
    int8: bool = False,
) -> bundle.Manifest:
    """Write the bundle to a sibling folder, then swap it in, so readers never see half a bundle.
    `samples`: codes drawn from each sampler to measure it; `calibration`: how its anomaly scores
    are calibrated (training.anomaly). `int8`: add the int8 graphs that pass their quality gate
    (training.quantize; a refusal is printed, the fp32 bundle still written).

    The network exported is the checkpoint's best (lowest validation loss); the manifest's
    `training.exported_epoch` says which epoch that was."""
    ckpt = Checkpoint.load(checkpoint)
    model = ckpt.build_best_model()
    cfg = ckpt.train_config
    data = data or load_run_dataset(cfg)
    staging = out_dir.with_name(f".{out_dir.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    export_onnx(model, staging)
    speedup = rewrite_if_faster(staging / bundle.DECODER)
    if speedup is not None:
        print(f"decoder's exact fp32 rewrite: {speedup:.2f}x (kept from {REWRITE_MIN_SPEEDUP}x)")
    parity = check_parity(model, staging, data.preprocessing.to_tensor(data.test.pixels[:256]))
    z_train = encode_means(model, data.train, data.preprocessing)
    attributes = bundle.AttributeFile(vectors=attribute_records(z_train, data.train))
    write_json_atomic(staging / bundle.ATTRIBUTES, attributes.model_dump())
    metrics = test_metrics(model, data.test, data.preprocessing, cfg)
    metrics |= {f"onnx_parity_{k}": v for k, v in parity.items()}
    metrics |= {} if speedup is None else {DECODER_REWRITE_SPEEDUP: speedup}
    manifest = _manifest(ckpt, out_dir.name, data, z_train, metrics)
    manifest = _with_checksums(manifest, staging)
    write_json_atomic(staging / bundle.MANIFEST, manifest.model_dump(mode="json"))
    record_samplers(staging, data, samples)
    if len(data.val) >= MIN_VALIDATION:
        write_anomaly(staging, data, calibration or CalibrationConfig())
    else:
        print(f"not calibrated for anomaly scores: {len(data.val)} validation images, fewer than "
              f"the {MIN_VALIDATION} a calibration needs")  # fmt: skip
    manifest = add_latent_map(staging, data)
    if int8:
        manifest = _add_int8(staging, data)
    swap_folder(staging, out_dir)
    return manifest


def _add_int8(staging: Path, data: DatasetSplits) -> bundle.Manifest:
    from training.quantize import QuantizationRefused, describe, record_int8

    try:
        print(f"int8 against fp32\n{describe(record_int8(staging, data))}")
    except QuantizationRefused as refused:
        print(f"no int8 graphs: {refused}")
    return bundle.read_manifest(staging)


def refit_samplers(
    bundle_dir: Path, data: DatasetSplits, samples: int = SAMPLES, seed: int = SEED
) -> bundle.Manifest:
    """`record_samplers` on an existing bundle, through a copy swapped in whole; its graphs and
    attribute vectors stay as they are."""
    return rewrite_folder(
        bundle_dir, partial(record_samplers, data=data, samples=samples, seed=seed)
    )


def record_samplers(
    bundle_dir: Path, data: DatasetSplits, samples: int = SAMPLES, seed: int = SEED
) -> bundle.Manifest:
    """Fit the samplers to the bundle's own training codes (z_mean from its ONNX encoder), measure
    the bundle with the dataset's feature network if the project has one, and write samplers.npz
    and the manifest (samplers, default sampler, evaluation, checksums) into `bundle_dir`."""
    model = load_autoencoder(bundle_dir, session_options(threads=2))
    manifest = model.manifest
    z_train = encode_pixels(model, data.train.pixels)
    gmm, choice = fit_mixture(z_train, encode_pixels(model, data.val.pixels), seed)
    samplers = _prior(manifest.kind, manifest.latent_dim) | {
        "gaussian": fit_gaussian(z_train),
        "gmm": gmm,
    }
    network = feature_network_for(manifest.dataset.name, manifest.image_shape)
    measured = measure(model, samplers, data.test, network, samples, seed) if network else None
    write_samplers(bundle_dir / bundle.SAMPLERS, samplers)
    offered = [
        bundle.SamplerScore(name=name, frechet_distance=_distance(measured, name))
        for name in samplers
    ]
    default = measured.best_sampler() if measured else manifest.default_sampler
    fields = manifest.model_dump(mode="json") | {
        "samplers": bundle.SamplerSet(default=default, offered=offered, mixture=choice),
        "evaluation": measured.evaluation if measured else None,
        "latent_prior": empirical_prior(manifest.kind, z_train),
        "files": bundle.checksums(bundle_dir),
    }
    manifest = bundle.Manifest.model_validate(fields)
    write_json_atomic(bundle_dir / bundle.MANIFEST, manifest.model_dump(mode="json"))
    return manifest


def _prior(kind: ModelKind, latent_dim: int) -> dict[SamplerName, GaussianMixture]:
    return {"prior": standard_normal(latent_dim)} if kind == "vae" else {}


def _distance(measured: Measurement | None, name: SamplerName) -> float | None:
    return measured.sampler_distances[name] if measured else None


def _manifest(
    ckpt: Checkpoint, name: str, data: DatasetSplits, z_train: np.ndarray, metrics: dict[str, float]
) -> bundle.Manifest:
    cfg = ckpt.model_config
    prep = data.preprocessing
    channels, height, width = prep.output_shape
    return bundle.Manifest(
        name=name,
        kind=cfg.kind,
        latent_dim=cfg.latent_dim,
        image=bundle.ImageSpec(channels=channels, height=height, width=width),
        preprocessing=prep,
        dataset=bundle.DatasetInfo(
            name=data.name,
            labels=data.train.label_names,
            label_kind=data.train.label_kind,
            train_size=len(data.train),
            test_size=len(data.test),
            card=data.card,
        ),
        architecture=to_dict(cfg),
        training={
            **to_dict(ckpt.train_config),
            "epochs_completed": ckpt.epoch,
            "exported_epoch": ckpt.exported_epoch,
            "steps": ckpt.step,
            "best_val_loss": ckpt.best_val_loss,
        },
        metrics=metrics,
        latent_prior=empirical_prior(cfg.kind, z_train),
        files={},
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        software=_software_versions(),
    )


def _with_checksums(manifest: bundle.Manifest, directory: Path) -> bundle.Manifest:
    return manifest.model_copy(update={"files": bundle.checksums(directory)})


def _software_versions() -> dict[str, str]:
    packages = ("vae-serve", "torch", "onnx", "onnxruntime", "numpy", "pillow")
    return {"python": platform.python_version(), **{p: version(p) for p in packages}}
