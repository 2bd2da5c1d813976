"""`python -m training quantize MODEL_DIR`: write a bundle's int8 graphs (encoder.int8.onnx,
decoder.int8.onnx) by the recipe of training.int8, calibrated on the bundle's own data, each only
if it passes the quality gate (training.gate) on held-out data; record the recipe, the gate's
figures, the speed-ups over fp32 and the CPU they were measured on in model.json's `int8`.

Calibration: the decoder sees the z_mean of training images and codes from the bundle's default
sampler, the encoder those training images. The gate: the test images (the encoder), their fp32
codes and as many sampled codes (the decoder). See docs/precision.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from training import gate
from training.anomaly import add_precision, drop_precision
from training.classifier import FeatureNetwork, feature_network_for
from training.datasets.splits import DatasetSplits
from training.errors import ConfigError, TrainingError
from training.int8 import Recipe, fp32_products, quantize
from training.quality import SAMPLES, SEED, decode, encode, measure
from training.rewrites import DECODER_REWRITE_SPEEDUP, rewrite_if_faster
from training.speed import graph_seconds, one_thread_session
from vae_core import bundle
from vae_core.files import rewrite_folder, write_json_atomic
from vae_core.graphs import Graph, OnnxAutoencoder, Outputs, load_autoencoder, session_options
from vae_core.precision import (
    FP32_FILES,
    INT8_FILES,
    GateFigures,
    Int8Graph,
    Int8Record,
    Timing,
    cpu_features,
)
from vae_core.vocabulary import GraphName

GATE_INPUTS = 5000  # held-out test images, and as many sampled codes for the decoder
GATE_BATCH = 100  # rows per run while measuring: a 64x64 decoder's int8 tensors are large
CALIBRATION_INPUTS = 2000  # training images, and as many sampled codes for the decoder
TIMING_BATCHES = (1, 32)
RECOMMENDED_SPEEDUP = 1.1  # int8 serves by default from this speed-up (geometric mean) up


class QuantizationRefused(TrainingError):
    """No int8 graph passed the gate: nothing was written."""


@dataclass(frozen=True)
class Verdict:
    """One int8 graph's figures, and what it missed of the gate (nothing: it was written)."""

    graph: GraphName
    figures: GateFigures
    failures: list[str]
    timings: list[Timing]


@dataclass(frozen=True)
class Judge:
    """The gate's held-out inputs, the fp32 graphs' images of them, and the feature network that
    compares an int8 graph's images with those."""

    fp32: OnnxAutoencoder
    network: FeatureNetwork
    images: np.ndarray  # test images, the encoder's input
    codes: np.ndarray  # the fp32 encoder's z_mean of `images`, then sampled codes
    decoded: np.ndarray  # the fp32 decoder's images of `codes`

    @classmethod
    def of(cls, fp32: OnnxAutoencoder, data: DatasetSplits) -> Judge:
        count = min(GATE_INPUTS, len(data.test))
        images = fp32.manifest.preprocessing.to_tensor(data.test.pixels[:count])
        sampler = fp32.samplers[fp32.manifest.default_sampler]
        samples = sampler.sample(count, np.random.default_rng(SEED + 1), 1.0).astype(np.float32)
        codes = np.concatenate([encode(fp32, images), samples])
        return cls(fp32, _network(fp32.manifest), images, codes, decode(fp32, codes))

    def inputs(self, name: GraphName) -> np.ndarray:
        return self.codes if name == "decoder" else self.images

    def figures(self, name: GraphName, path: Path) -> GateFigures:
        """The gate's figures of the int8 graph `name` at `path`."""
        graphs = [Graph(path, _options(threads), name) for threads in (1, 2)]
        inputs = self.inputs(name)
        invariant = all(gate.batch_invariant(graph.run, inputs) for graph in graphs)
        outputs = _in_batches(graphs[1].run, inputs)
        if name == "decoder":
            return gate.figures(outputs["image"], self.decoded, self.network, invariant)
        reconstructed = self.decoded[: len(self.images)]  # fp32 all the way
        images = decode(self.fp32, outputs["z_mean"])
        return gate.figures(images, reconstructed, self.network, invariant)


def quantize_bundle(
    bundle_dir: Path, data: DatasetSplits, recipe: Recipe | None = None, samples: int | None = None
) -> list[Verdict]:
    """`record_int8` on an existing bundle, through a copy swapped in whole: a refusal leaves
    the bundle as it was."""
    change = partial(record_int8, data=data, recipe=recipe, samples=samples)
    return rewrite_folder(bundle_dir, change)


def record_int8(
    bundle_dir: Path, data: DatasetSplits, recipe: Recipe | None = None, samples: int | None = None
) -> list[Verdict]:
    """Quantize both graphs of the bundle in `bundle_dir`, write those that pass the gate and
    the manifest's `int8`; QuantizationRefused (nothing written) if none passes. `samples`:
    codes drawn from each sampler to measure it through int8 (default: as many as the bundle's
    evaluation drew, so that the distances compare)."""
    recipe = recipe or Recipe()
    _network(bundle.read_manifest(bundle_dir))  # before any change: no gate, no int8
    _remove_int8(bundle_dir)
    drop_precision(bundle_dir, "int8")
    _rewrite_fp32_decoder(bundle_dir)
    fp32 = load_autoencoder(bundle_dir, _options(threads=2))
    judge = Judge.of(fp32, data)
    calibration = _calibration(fp32, data)
    verdicts = []
    for name, file in FP32_FILES.items():
        model = quantize(name, onnx.load(bundle_dir / file), calibration[name], recipe)
        verdicts.append(_try(name, bundle_dir, model, judge))
    passed = {v.graph: v for v in verdicts if not v.failures}
    if not passed:
        raise QuantizationRefused(
            f"{bundle_dir.name}: no int8 graph passed the gate\n{describe(verdicts)}"
        )
    graphs = {name: _record_graph(bundle_dir, name, v) for name, v in passed.items()}
    record = _record(recipe, _calibration_text(fp32), graphs)
    _write_manifest(bundle_dir, fp32.manifest, int8=record)  # the bundle now loads at int8
    record = _with_sampler_distances(record, bundle_dir, data, judge.network, samples)
    _write_manifest(bundle_dir, bundle.read_manifest(bundle_dir), int8=record)
    info = fp32.manifest.anomaly
    if info is not None and info.validation_images == len(data.val):
        add_precision(bundle_dir, data, "int8")  # p-values at int8 against int8's own scores
    elif info is not None:
        print(
            f"{bundle_dir.name}: not calibrated at int8 (the data's validation split has "
            f"{len(data.val)} images, the calibration {info.validation_images}): at int8 it reads "
            "fp32's calibration; vae-serve calibrate on the bundle's data adds int8's"
        )
    return verdicts


def _rewrite_fp32_decoder(bundle_dir: Path) -> None:
    """Give the fp32 decoder the exact rewrite export gives new bundles, if it runs faster, so
    that int8 is measured against the fastest fp32 (and every precision gains from it)."""
    speedup = rewrite_if_faster(bundle_dir / bundle.DECODER)
    manifest = bundle.read_manifest(bundle_dir)
    metrics = manifest.metrics | ({} if speedup is None else {DECODER_REWRITE_SPEEDUP: speedup})
    _write_manifest(bundle_dir, manifest, metrics=metrics, int8=None)


def remeasure(bundle_dir: Path, data: DatasetSplits) -> dict[GraphName, GateFigures]:
    """The gate's figures of a bundle's int8 graphs, measured again as `record_int8` did."""
    fp32 = load_autoencoder(bundle_dir, _options(threads=2))
    if fp32.manifest.int8 is None:
        raise ConfigError(f"{bundle_dir}: no int8 graphs to measure")
    judge = Judge.of(fp32, data)
    return {
        name: judge.figures(name, bundle_dir / graph.file)
        for name, graph in fp32.manifest.int8.graphs.items()
    }


def _try(name: GraphName, bundle_dir: Path, model: onnx.ModelProto, judge: Judge) -> Verdict:
    """Write the int8 graph, measure it against fp32, and delete it again if it fails."""
    path = bundle_dir / INT8_FILES[name]
    onnx.save(model, path)
    figures = judge.figures(name, path)
    missed = gate.failures(figures)
    if missed:
        path.unlink()
        return Verdict(name, figures, missed, [])
    return Verdict(name, figures, missed, _timings(bundle_dir, name, judge.inputs(name)))


def _in_batches(run: Callable[[np.ndarray], Outputs], inputs: np.ndarray) -> Outputs:
    parts = [run(inputs[i : i + GATE_BATCH]) for i in range(0, len(inputs), GATE_BATCH)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _timings(bundle_dir: Path, name: GraphName, inputs: np.ndarray) -> list[Timing]:
    """fp32 and int8, one thread, at each TIMING_BATCHES size, taken in turns."""
    sessions = [
        one_thread_session(str(bundle_dir / files[name])) for files in (FP32_FILES, INT8_FILES)
    ]
    timings = []
    for batch in TIMING_BATCHES:
        fp32, int8 = graph_seconds(sessions, inputs[:batch])
        timings.append(Timing(batch=batch, fp32_ms=fp32 * 1000, int8_ms=int8 * 1000))
    return timings


def _record_graph(bundle_dir: Path, name: GraphName, verdict: Verdict) -> Int8Graph:
    model = onnx.load(bundle_dir / INT8_FILES[name])
    return Int8Graph(
        file=INT8_FILES[name],
        fp32_nodes=fp32_products(model),
        gate=verdict.figures,
        timings=verdict.timings,
    )


def _record(recipe: Recipe, calibration: str, graphs: dict[GraphName, Int8Graph]) -> Int8Record:
    """The record, its sampler distances still to measure (through the graphs it lists)."""
    record = Int8Record(
        recipe=recipe.record(calibration),
        gate=gate.LIMITS,
        graphs=graphs,
        sampler_frechet_distances={},
        samples_per_sampler=SAMPLES,
        measured_on=cpu_features(),
        recommended=False,
        onnxruntime=ort.__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return record.model_copy(update={"recommended": record.speedup() >= RECOMMENDED_SPEEDUP})


def _write_manifest(bundle_dir: Path, manifest: bundle.Manifest, **updates: object) -> None:
    """The manifest with these fields replaced and the checksums of the files now present."""
    fields = manifest.model_dump() | updates | {"files": bundle.checksums(bundle_dir)}
    checked = bundle.Manifest.model_validate(fields)
    write_json_atomic(bundle_dir / bundle.MANIFEST, checked.model_dump(mode="json"))


def _with_sampler_distances(
    record: Int8Record,
    bundle_dir: Path,
    data: DatasetSplits,
    network: FeatureNetwork,
    samples: int | None,
) -> Int8Record:
    """The record with each sampler's Fréchet distance to the test images through the int8
    graphs, with the seed (and by default the number of codes) of the bundle's evaluation."""
    model = load_autoencoder(bundle_dir, _options(threads=2), precision="int8")
    evaluation = model.manifest.evaluation
    samples = samples or (evaluation.samples_per_sampler if evaluation else SAMPLES)
    seed = evaluation.seed if evaluation else SEED
    measured = measure(model, model.samplers, data.test, network, samples, seed)
    distances = dict(measured.sampler_distances)
    update = {"sampler_frechet_distances": distances, "samples_per_sampler": samples}
    return record.model_copy(update=update)


def _options(threads: int) -> ort.SessionOptions:
    """Without ONNX Runtime's arena, which would keep the largest batch's tensors (GBs for the
    64x64 faces in batches of 500) for as long as the session lives."""
    options = session_options(threads)
    options.enable_cpu_mem_arena = False
    return options


def _remove_int8(bundle_dir: Path) -> None:
    for file in INT8_FILES.values():
        (bundle_dir / file).unlink(missing_ok=True)


def _network(manifest: bundle.Manifest) -> FeatureNetwork:
    network = feature_network_for(manifest.dataset.name, manifest.image_shape)
    if network is None:
        raise ConfigError(
            f"no feature network measures {manifest.dataset.name} images "
            f"{manifest.image_shape}, so the int8 gate cannot run: no int8 graphs"
        )
    return network


def _calibration(model: OnnxAutoencoder, data: DatasetSplits) -> dict[GraphName, np.ndarray]:
    rng = np.random.default_rng(SEED)
    count = min(CALIBRATION_INPUTS, len(data.train))
    chosen = np.sort(rng.choice(len(data.train), count, replace=False))
    images = model.manifest.preprocessing.to_tensor(data.train.pixels[chosen])
    sampler = model.samplers[model.manifest.default_sampler]
    samples = sampler.sample(count, rng, 1.0).astype(np.float32)
    return {"encoder": images, "decoder": np.concatenate([encode(model, images), samples])}


def _calibration_text(model: OnnxAutoencoder) -> str:
    sampler = model.manifest.default_sampler
    return (
        f"encoder: up to {CALIBRATION_INPUTS} training images (seed {SEED}); decoder: their "
        f"z_mean and as many codes from the {sampler} sampler"
    )


def describe(verdicts: list[Verdict]) -> str:
    """The gate's figures and the speed-ups of each graph, as a table."""
    rows = [
        f"{'graph':8} {'Fréchet':>8} {'same':>7} {'p99.9':>7} {'max':>7} {'invariant':>9} "
        f"{'x b=1':>6} {'x b=32':>6}  verdict"
    ]
    for v in verdicts:
        f = v.figures
        speed = {t.batch: f"{t.speedup:.2f}" for t in v.timings}
        verdict = "written" if not v.failures else "refused: " + "; ".join(v.failures)
        rows.append(
            f"{v.graph:8} {f.frechet_distance:8.4f} {f.same_prediction:7.2%} "
            f"{f.pixel_difference_p999:7.4f} {f.pixel_difference_max:7.4f} "
            f"{f.batch_invariant!s:>9} {speed.get(1, '–'):>6} {speed.get(32, '–'):>6}  {verdict}"
        )
    return "\n".join(rows)
