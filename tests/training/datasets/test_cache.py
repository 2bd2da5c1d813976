"""The decoded-image cache of a folder: a second run maps the pixels without decoding; changing one
file or the preprocessing decodes again; an entry of an older file list is deleted."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.training.datasets.folders import save, write_class_folders, write_unlabeled
from training.datasets import cache
from training.datasets.catalog import load_dataset
from training.datasets.splits import DatasetSplits, LoadOptions
from training.errors import ConfigError, DatasetInvalid

pytestmark = pytest.mark.unit

COUNT = 40


def counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """The number of files each call of cache.<name> was given."""
    calls: list[int] = []
    real: Callable[..., object] = getattr(cache, name)

    def counted(root: Path, paths: list[str], *args: object, **kwargs: object) -> object:
        calls.append(len(paths))
        return real(root, paths, *args, **kwargs)

    monkeypatch.setattr(cache, name, counted)
    return calls


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return counting(monkeypatch, "decode_files")


@pytest.fixture
def images(fashion: DatasetSplits, tmp_path: Path) -> Path:
    write_class_folders(tmp_path / "images", fashion.train, COUNT)
    return tmp_path / "images"


def load(images: Path, side: int = 16, **options: object) -> DatasetSplits:
    options = {"workers": 1, "cache_dir": images.parent / "cache", **options}
    return load_dataset("folder", images, side, LoadOptions(**options))  # type: ignore[arg-type]


def every_image(data: DatasetSplits) -> set[bytes]:
    return {row.tobytes() for split in (data.train, data.val, data.test) for row in split.pixels}


def entries(images: Path) -> list[Path]:
    return sorted((images.parent / "cache").glob("*/*.u8"))


def test_a_second_run_maps_the_pixels_without_decoding(images: Path, decoded: list[int]) -> None:
    first = load(images)
    second = load(images)

    assert decoded == [COUNT]
    assert isinstance(second.train.pixels, np.memmap) and not second.train.pixels.flags.writeable
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(first, split).pixels, getattr(second, split).pixels)
        assert np.array_equal(getattr(first, split).labels, getattr(second, split).labels)
    assert len(entries(images)) == 1


def test_changing_one_file_decodes_again_and_drops_the_old_entry(
    fashion: DatasetSplits, images: Path, decoded: list[int]
) -> None:
    before = load(images)
    changed = next(images.glob("*/*.jpg"))
    save(fashion.train.pixels[500], changed)
    os.utime(changed, ns=(1, 1))  # a new mtime, whatever the clock's resolution

    after = load(images)

    assert decoded == [COUNT, COUNT]
    new = after.preprocessing.to_pixels(Image.open(changed)).tobytes()
    assert new in every_image(after) and new not in every_image(before)
    assert len(entries(images)) == 1  # the entry of the old file list is gone


def test_another_preprocessing_decodes_again_and_keeps_both(
    images: Path, decoded: list[int]
) -> None:
    load(images)
    load(images, fit="pad")
    load(images, side=24)
    load(images)
    load(images, fit="pad")

    assert decoded == [COUNT, COUNT, COUNT]
    assert len(entries(images)) == 3


def test_the_image_modes_are_read_once_per_file_list(
    images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans = counting(monkeypatch, "all_grayscale")

    load(images)
    load(images, fit="pad")
    load(images, channels=1)

    assert scans == [COUNT]


def test_unreadable_files_are_remembered_with_the_pixels(
    fashion: DatasetSplits, tmp_path: Path, decoded: list[int]
) -> None:
    write_unlabeled(tmp_path / "images", fashion.train, 30)
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8 not a JPEG")

    with pytest.raises(DatasetInvalid, match=r"broken\.jpg"):
        load(tmp_path / "images")
    data = load(tmp_path / "images", skip_bad_images=True)

    assert decoded == [31]
    assert data.card is not None and data.card.skipped_images == 1


def test_a_cache_that_cannot_be_written_is_a_config_error(images: Path) -> None:
    (images.parent / "cache").write_text("a file where the cache folder should be")

    with pytest.raises(ConfigError, match=r"cannot write the image cache in .*--cache-dir"):
        load(images)
