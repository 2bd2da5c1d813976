"""The bundle's latent map (see `vae_core.latent_map`), from its dataset's held-out split: written
at export, or added to an existing bundle without retraining (`python -m training map MODEL_DIR`).

The codes come from the bundle's own ONNX encoder, as the service computes them, so a held-out
image sent to the service lands on its point. Deterministic: the same bundle and data give the
same bytes.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from training.datasets.splits import DatasetSplits
from training.errors import TrainingError
from training.quality import encode_pixels
from vae_core import bundle
from vae_core.bundle import MAP_FILES
from vae_core.files import rewrite_folder, sha256_file, write_json_atomic
from vae_core.graphs import OnnxAutoencoder, load_autoencoder, session_options
from vae_core.latent_map import MAX_POINTS, LatentMapInfo, build_latent_map, write_latent_map

SPLIT = "test"


def add_latent_map(
    bundle_dir: Path, data: DatasetSplits, points: int = MAX_POINTS
) -> bundle.Manifest:
    """Write the map of the first `points` test images into the bundle folder, in place, and
    rewrite model.json's `files` and `latent_map`. For a folder no one serves yet (export's
    staging); `rebuild_latent_map` does it to a served bundle."""
    remove_latent_map(bundle_dir)  # an old map, even a broken one, must not stop its replacement
    model = load_autoencoder(bundle_dir, session_options(threads=1))  # 1 thread: reproducible
    _check_dataset(model, data)
    if not 1 <= points <= MAX_POINTS:
        raise TrainingError(f"a latent map holds 1 to {MAX_POINTS} points, not {points}")
    held_out = data.test.subset(slice(0, points))
    if len(held_out) == 0:
        raise TrainingError(f"{data.name} has no {SPLIT} images to draw a latent map from")
    record, sprite = build_latent_map(
        encode_pixels(model, held_out.pixels),
        held_out.has_label(),
        held_out.label_names,
        held_out.label_kind,
        held_out.pixels,
        SPLIT,
    )
    write_latent_map(bundle_dir, record, sprite)
    info = LatentMapInfo(
        points=len(held_out), projection=record.projection.kind, split=record.split
    )
    files = model.manifest.files | {name: sha256_file(bundle_dir / name) for name in MAP_FILES}
    manifest = model.manifest.model_copy(
        update={"files": dict(sorted(files.items())), "latent_map": info}
    )
    _write_manifest(bundle_dir, manifest)
    bundle.read_bundle(bundle_dir)  # what the service will read: fail here, not there
    return manifest


def remove_latent_map(bundle_dir: Path) -> bundle.Manifest:
    """Delete a bundle's map, in place: its files, and its entries in model.json."""
    manifest = bundle.read_manifest(bundle_dir)
    for name in MAP_FILES:
        (bundle_dir / name).unlink(missing_ok=True)
    files = {name: sha for name, sha in manifest.files.items() if name not in MAP_FILES}
    manifest = manifest.model_copy(update={"files": files, "latent_map": None})
    _write_manifest(bundle_dir, manifest)
    return manifest


def _write_manifest(bundle_dir: Path, manifest: bundle.Manifest) -> None:
    write_json_atomic(bundle_dir / bundle.MANIFEST, manifest.model_dump(mode="json"))


def rebuild_latent_map(
    bundle_dir: Path, data: DatasetSplits, points: int = MAX_POINTS
) -> bundle.Manifest:
    """Add (or rebuild) the latent map of an existing bundle, on a copy swapped in whole: a service
    reading the folder meanwhile sees the old bundle or the new one."""
    return rewrite_folder(bundle_dir, partial(add_latent_map, data=data, points=points))


def _check_dataset(model: OnnxAutoencoder, data: DatasetSplits) -> None:
    dataset = model.manifest.dataset
    if data.name != dataset.name or data.test.label_names != dataset.labels:
        raise TrainingError(
            f"{model.name} was trained on {dataset.name} ({len(dataset.labels)} labels), "
            f"not on {data.name} ({len(data.test.label_names)} labels)"
        )
    if data.preprocessing != model.manifest.preprocessing:
        raise TrainingError(f"{data.name} is not preprocessed as {model.name} expects")
