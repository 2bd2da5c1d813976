"""Decoded pixels of a folder of images, kept on disk so that the next run maps them in seconds.

    <cache dir>/<folder name>-<hash of its absolute path>/
      <key>.u8                 uint8 rows [N, H, W] or [N, H, W, 3], C order, no header: the
                               readable images, in the order they were asked for
      <key>.json               what the key was made of, the shape, the unreadable files and why
      modes-<listing>.json     whether every image is grayscale (the default channel count)

The key is the sha256 of the image files in order (relative path, size and mtime of each) and of
the preprocessing, so changing, adding or removing one image, or any preprocessing step, misses.
Entries are written to a temporary file and renamed, pixels first, so a reader never sees half of
one; an entry made from another file list than the folder's current one is deleted when a new one
is written. The pixels are memory-mapped read-only: a run holds in memory only the pages it reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.datasets.images import all_grayscale, decode_files
from training.errors import ConfigError
from vae_core.files import TEMPORARY_SUFFIX, remove_stale_temporaries, write_json_atomic
from vae_core.preprocess import Preprocessing

CACHE_FORMAT = 1  # raise when the layout of the files changes: every old entry then misses
STALE_TEMPORARY_S = 3600.0  # a temporary file this old was left by a writer that died


@dataclass(frozen=True)
class ImageFile:
    """One image of a folder, as the cache key sees it."""

    path: str  # relative to the folder, '/'-separated
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Decoded:
    """The readable images in the order asked for (a read-only memory map when cached), and each
    unreadable file with the reason."""

    pixels: np.ndarray
    unreadable: dict[str, str]


def files_digest(files: Sequence[ImageFile]) -> str:
    """sha256 of the files in this order: path, size and mtime of each."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.path}\t{file.size}\t{file.mtime_ns}\n".encode())
    return digest.hexdigest()


class PixelCache:
    """The cache entries of one folder, `root`, whose files are now `listing` (sorted by path);
    `directory` None decodes into memory every time."""

    def __init__(self, directory: Path | None, root: Path, listing: Sequence[ImageFile]) -> None:
        self.root = root
        self.listing = files_digest(listing)
        self.folder: Path | None = None
        if directory is not None:
            root_id = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
            self.folder = directory / f"{root.name}-{root_id}"

    def all_grayscale(self, paths: Sequence[str], workers: int) -> bool:
        """Whether every readable image is grayscale: read from each header once per file list."""
        if self.folder is None:
            return all_grayscale(self.root, paths, workers)
        record = self.folder / f"modes-{self.listing}.json"
        if record.is_file():
            return bool(json.loads(record.read_text())["grayscale"])
        grayscale = all_grayscale(self.root, paths, workers)
        with _writing(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
            write_json_atomic(record, {"grayscale": grayscale})
        return grayscale

    def decoded(
        self, files: Sequence[ImageFile], preprocessing: Preprocessing, workers: int
    ) -> Decoded:
        """The images `files` (in this order) decoded by `preprocessing`: from the cache when an
        entry has the same key, else decoded on `workers` processes (and kept, with a folder)."""
        if self.folder is None:
            return _decode_in_memory(self.root, files, preprocessing, workers)
        key = _key(files, preprocessing)
        cached = self._read(key)
        if cached is not None:
            print(f"{len(cached.pixels)} decoded images mapped from {self.folder / key}.u8")
            return cached
        with _writing(self.folder):
            return self._write(key, files, preprocessing, workers)

    def _read(self, key: str) -> Decoded | None:
        assert self.folder is not None
        meta_path, pixels_path = self.folder / f"{key}.json", self.folder / f"{key}.u8"
        try:
            meta = json.loads(meta_path.read_text())
            size = pixels_path.stat().st_size
        except (OSError, ValueError):
            return None
        shape = tuple(meta["shape"])
        if meta.get("key") != key or size != int(np.prod(shape)):
            return None
        return Decoded(_mapped(pixels_path, shape), meta["unreadable"])

    def _write(
        self, key: str, files: Sequence[ImageFile], preprocessing: Preprocessing, workers: int
    ) -> Decoded:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder, STALE_TEMPORARY_S)
        pixels_path = self.folder / f"{key}.u8"
        tmp = self.folder / f".{key}.u8.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
        rows = 0
        try:
            with tmp.open("wb") as out:

                def write(block: np.ndarray) -> None:
                    nonlocal rows
                    out.write(np.ascontiguousarray(block).data)
                    rows += len(block)

                paths = [file.path for file in files]
                unreadable = decode_files(self.root, paths, preprocessing, workers, write)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(pixels_path)
        finally:
            tmp.unlink(missing_ok=True)
        shape = (rows, *_image_shape(preprocessing))
        write_json_atomic(
            self.folder / f"{key}.json", self._meta(key, preprocessing, shape, unreadable)
        )
        self._remove_other_listings()
        return Decoded(_mapped(pixels_path, shape), unreadable)

    def _meta(
        self,
        key: str,
        preprocessing: Preprocessing,
        shape: tuple[int, ...],
        unreadable: dict[str, str],
    ) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "key": key,
            "listing": self.listing,
            "preprocessing": preprocessing.model_dump(mode="json"),
            "shape": list(shape),
            "unreadable": unreadable,
        }

    def _remove_other_listings(self) -> None:
        """Delete the entries made from another file list: the folder has changed since."""
        assert self.folder is not None
        for record in self.folder.glob("modes-*.json"):
            if record.name != f"modes-{self.listing}.json":
                record.unlink(missing_ok=True)
        for meta_path in self.folder.glob("[0-9a-f]*.json"):
            try:
                if json.loads(meta_path.read_text()).get("listing") != self.listing:
                    meta_path.with_suffix(".u8").unlink(missing_ok=True)
                    meta_path.unlink()
            except (OSError, ValueError):  # removed by another run meanwhile: nothing to do
                continue


@contextmanager
def _writing(folder: Path) -> Iterator[None]:
    """ConfigError instead of an OSError (no space, no permission) while writing the cache."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(
            f"cannot write the image cache in {folder} ({exc.strerror or exc}); free some space or "
            "choose another folder with --cache-dir"
        ) from None


def _key(files: Sequence[ImageFile], preprocessing: Preprocessing) -> str:
    parts = {
        "format": CACHE_FORMAT,
        "files": files_digest(files),
        "preprocessing": preprocessing.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _image_shape(preprocessing: Preprocessing) -> tuple[int, ...]:
    height, width = preprocessing.resize
    return (height, width) if preprocessing.color_mode == "L" else (height, width, 3)


def _mapped(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    if shape[0] == 0:  # an empty file cannot be mapped
        return np.empty(shape, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", shape=shape)


def _decode_in_memory(
    root: Path, files: Sequence[ImageFile], preprocessing: Preprocessing, workers: int
) -> Decoded:
    pixels = np.empty((len(files), *_image_shape(preprocessing)), dtype=np.uint8)
    rows = 0

    def write(block: np.ndarray) -> None:
        nonlocal rows
        pixels[rows : rows + len(block)] = block
        rows += len(block)

    unreadable = decode_files(root, [file.path for file in files], preprocessing, workers, write)
    return Decoded(pixels[:rows], unreadable)
