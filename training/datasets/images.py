"""Image files read by name from a folder or, in place, from a zip archive, and decoded on worker
processes into uint8 pixels by a `Preprocessing`; or, for a folder of the user's own images,
decoded where they lie, each unreadable one reported instead of stopping the rest."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from training.errors import DatasetInvalid
from training.parallel import map_in_order
from vae_core.preprocess import Preprocessing

DECODE_CHUNK = 256  # images per worker task: one progress-bar step


class ImageArchive:
    """Reads JPEG files by name from a folder or, in place, from a zip archive.

    Use it as a context manager: entering lists the images (and opens the zip), leaving closes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}

    def __enter__(self) -> ImageArchive:
        if self.path.suffix == ".zip":
            self._zip = zipfile.ZipFile(self.path)
            # Any inner layout: index members by file name, whatever their folder.
            jpegs = [m for m in self._zip.namelist() if m.lower().endswith(".jpg")]
            self._members = {PurePosixPath(m).name: m for m in reversed(jpegs)}
        else:
            self._members = {name: name for name in os.listdir(self.path)}
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._zip is not None:
            self._zip.close()

    def check_has(self, names: Sequence[str], listed_in: Path) -> None:
        """DatasetInvalid if any of `names` (the rows of the list `listed_in`) is not here."""
        missing = [name for name in names if name not in self._members]
        if missing:
            raise DatasetInvalid(
                f"{listed_in}: {len(missing)} rows name images missing from {self.path}, "
                f"e.g. {missing[:5]}"
            )

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(self._members[name])
        return (self.path / name).read_bytes()


@dataclass(frozen=True)
class DecodeJob:
    """A chunk of encoded images for one worker process."""

    names: list[str]
    jpegs: list[bytes]
    preprocessing: Preprocessing


def decode_images(
    archive: ImageArchive,
    names: list[str],
    preprocessing: Preprocessing,
    workers: int,
    desc: str = "decoding images",
) -> np.ndarray:
    """uint8 [len(names), S, S, 3], decoded on `workers` processes under a progress bar `desc`."""
    height, width = preprocessing.resize
    pixels = np.empty((len(names), height, width, 3), dtype=np.uint8)
    chunks = [names[i : i + DECODE_CHUNK] for i in range(0, len(names), DECODE_CHUNK)]
    jobs = (DecodeJob(c, [archive.read(n) for n in c], preprocessing) for c in chunks)
    with tqdm(total=len(names), unit="img", desc=desc, disable=None) as bar:
        start = 0
        for block in map_in_order(decode_job, jobs, workers):
            pixels[start : start + len(block)] = block
            start += len(block)
            bar.update(len(block))
    return pixels


def decode_job(job: DecodeJob) -> np.ndarray:
    """Decode and preprocess one chunk; DatasetInvalid names an unreadable file."""
    return np.stack(
        [_decode(n, data, job.preprocessing) for n, data in zip(job.names, job.jpegs, strict=True)]
    )


def _decode(name: str, data: bytes, preprocessing: Preprocessing) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return preprocessing.to_pixels(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetInvalid(f"{name}: not a readable image ({exc})") from None


# PIL modes without colour: such images alone make a folder grayscale.
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


@dataclass(frozen=True)
class FileJob:
    """A chunk of image files under `root`, for one worker process."""

    root: Path
    paths: list[str]


@dataclass(frozen=True)
class DecodeFilesJob(FileJob):
    """A chunk of image files to decode and preprocess."""

    preprocessing: Preprocessing


@dataclass(frozen=True)
class DecodedChunk:
    """A chunk's readable images, in order, and each unreadable one with the reason."""

    pixels: np.ndarray
    unreadable: list[tuple[str, str]]


def decode_files(
    root: Path,
    paths: Sequence[str],
    preprocessing: Preprocessing,
    workers: int,
    write: Callable[[np.ndarray], None],
    desc: str = "decoding images",
) -> dict[str, str]:
    """Decode the files `paths` under `root` on `workers` processes under a progress bar; `write`
    receives each chunk's readable images [n, H, W(, 3)] in order. Returns the unreadable files
    (undecodable, truncated, ...), path -> reason."""
    unreadable: dict[str, str] = {}
    with tqdm(total=len(paths), unit="img", desc=desc, disable=None) as bar:
        jobs = (
            DecodeFilesJob(job.root, job.paths, preprocessing) for job in _file_jobs(root, paths)
        )
        for chunk in map_in_order(decode_file_job, jobs, workers):
            write(chunk.pixels)
            unreadable.update(chunk.unreadable)
            bar.update(len(chunk.pixels) + len(chunk.unreadable))
    return unreadable


def all_grayscale(root: Path, paths: Sequence[str], workers: int) -> bool:
    """Whether every readable file of `paths` is a grayscale image, from its header alone."""
    jobs = _file_jobs(root, paths)
    with tqdm(total=len(paths), unit="img", desc="reading image modes", disable=None) as bar:
        for job, any_colour in zip(jobs, map_in_order(colour_job, jobs, workers), strict=True):
            if any_colour:
                return False
            bar.update(len(job.paths))
    return True


def _file_jobs(root: Path, paths: Sequence[str]) -> list[FileJob]:
    return [
        FileJob(root, list(paths[i : i + DECODE_CHUNK])) for i in range(0, len(paths), DECODE_CHUNK)
    ]


def decode_file_job(job: DecodeFilesJob) -> DecodedChunk:
    height, width = job.preprocessing.resize
    pixels, unreadable = [], []
    for path in job.paths:
        try:
            with Image.open(job.root / path) as image:
                pixels.append(job.preprocessing.to_pixels(image))
        except Exception as exc:  # any failure of a decoder on a user's file: report it, go on
            unreadable.append((path, _reason(exc)))
    shape = (0, height, width) if job.preprocessing.color_mode == "L" else (0, height, width, 3)
    return DecodedChunk(np.stack(pixels) if pixels else np.empty(shape, np.uint8), unreadable)


def colour_job(job: FileJob) -> bool:
    """Whether any readable file of the chunk holds a colour image."""
    for path in job.paths:
        try:
            with Image.open(job.root / path) as image:
                if image.mode not in GRAYSCALE_MODES:
                    return True
        except Exception:  # unreadable: decoding reports it
            continue
    return False


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not an image file that Pillow can read"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
