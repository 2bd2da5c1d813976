"""`generate_faces`: drawn faces written as a CelebA copy (images, attribute and partition lists),
drawn on worker processes, into folders or a zip."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from training.datasets.celeba import (
    CELEBA_ATTRIBUTES,
    CELEBA_LAYOUTS,
    IMAGE_ZIP,
    CelebaLayoutName,
    write_attributes,
    write_partition,
)
from training.errors import ConfigError
from training.faces.drawing import draw_face
from training.faces.records import sample_face
from training.parallel import map_in_order

SPLIT_FRACTIONS = (0.8, 0.1)  # train, val; test takes the rest
RENDER_CHUNK = 64  # faces per worker task
JPEG_QUALITY = 95
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same run writes the same archive bytes


@dataclass(frozen=True)
class RenderJob:
    """Faces start..stop-1 of the run `seed`, for one worker process."""

    seed: int
    start: int
    stop: int


@dataclass(frozen=True)
class RenderedFaces:
    """One job's JPEG files and their CelebA rows, int8 [n, 40] of -1/1."""

    start: int
    jpegs: list[bytes]
    labels: np.ndarray


def render_job(job: RenderJob) -> RenderedFaces:
    faces = [sample_face(job.seed, index) for index in range(job.start, job.stop)]
    labels = np.stack([face.attributes.celeba_row() for face in faces])
    return RenderedFaces(job.start, [encode_jpeg(draw_face(face)) for face in faces], labels)


def encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def image_name(index: int) -> str:
    """CelebA's file name of the face `index` (0-based): 000001.jpg, 000002.jpg, ..."""
    return f"{index + 1:06d}.jpg"


def partition_codes(count: int) -> np.ndarray:
    """int8 [count]: the first 80% train (0), the next 10% validation (1), the rest test (2)."""
    n_train, n_val = (round(count * fraction) for fraction in SPLIT_FRACTIONS)
    codes = np.full(count, 2, dtype=np.int8)
    codes[:n_train] = 0
    codes[n_train : n_train + n_val] = 1
    return codes


def generate_faces(
    out_dir: Path,
    count: int,
    *,
    seed: int = 0,
    layout: CelebaLayoutName = "official",
    zip_images: bool = False,
    workers: int = 2,
) -> Path:
    """Write `count` faces as a CelebA copy under `out_dir` (created; must be empty) and return it.

    `layout` "official" writes `img_align_celeba/` and the `.txt` lists, "kaggle" writes
    `img_align_celeba/img_align_celeba/` and the `.csv` lists; `zip_images` puts the images in
    `img_align_celeba.zip` (same inner folders) instead. The result loads with `load_celeba`.
    """
    _check_request(out_dir, count, layout, workers)
    files = CELEBA_LAYOUTS[layout]
    starts = range(0, count, RENDER_CHUNK)
    jobs = (RenderJob(seed, start, min(start + RENDER_CHUNK, count)) for start in starts)
    labels = np.empty((count, len(CELEBA_ATTRIBUTES)), dtype=np.int8)
    with (
        _image_sink(out_dir, files.images, zip_images) as write,
        tqdm(total=count, unit="img", desc="drawing faces", disable=None) as bar,
    ):
        for rendered in map_in_order(render_job, jobs, workers):
            for offset, jpeg in enumerate(rendered.jpegs):
                write(image_name(rendered.start + offset), jpeg)
            labels[rendered.start : rendered.start + len(rendered.jpegs)] = rendered.labels
            bar.update(len(rendered.jpegs))
    names = [image_name(index) for index in range(count)]
    write_attributes(out_dir / files.attributes, names, labels)
    write_partition(out_dir / files.partition, names, partition_codes(count))
    return out_dir


def _check_request(out_dir: Path, count: int, layout: str, workers: int) -> None:
    if count < 1 or workers < 1:
        raise ConfigError(f"need count >= 1 and workers >= 1, got {count} and {workers}")
    if layout not in CELEBA_LAYOUTS:
        names = " or ".join(repr(name) for name in CELEBA_LAYOUTS)
        raise ConfigError(f"layout must be {names}, got {layout!r}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ConfigError(f"{out_dir} exists and is not an empty folder: pick a new one")


@contextmanager
def _image_sink(
    root: Path, folder: str, zip_images: bool
) -> Iterator[Callable[[str, bytes], None]]:
    """A function that stores one image file under `folder`, in the folder tree or the zip."""
    if not zip_images:
        (root / folder).mkdir(parents=True)

        def write_file(name: str, data: bytes) -> None:
            (root / folder / name).write_bytes(data)

        yield write_file
        return
    root.mkdir(parents=True, exist_ok=True)
    # Stored, not deflated: JPEGs do not compress, and stored members read fastest.
    with zipfile.ZipFile(root / IMAGE_ZIP, "w", compression=zipfile.ZIP_STORED) as archive:

        def write_member(name: str, data: bytes) -> None:
            archive.writestr(zipfile.ZipInfo(f"{folder}/{name}", ZIP_DATE), data)

        yield write_member
