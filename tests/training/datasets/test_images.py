"""Image files read by name from a folder or a zip, and decoded in worker processes."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.datasets.images import ImageArchive, decode_images
from training.errors import DatasetInvalid
from vae_core.preprocess import Preprocessing

pytestmark = pytest.mark.unit

PREPROCESSING = Preprocessing(color_mode="RGB", crop="center_square", resize=(8, 8), pad=0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three 12x16 JPEGs of different colours in tmp_path/images."""
    images = tmp_path / "images"
    images.mkdir()
    for index, color in enumerate([(250, 0, 0), (0, 250, 0), (0, 0, 250)]):
        buffer = io.BytesIO()
        Image.new("RGB", (12, 16), color).save(buffer, "JPEG", quality=95)
        (images / f"{index:03d}.jpg").write_bytes(buffer.getvalue())
    return images


def test_a_zip_is_read_by_file_name_whatever_its_inner_folder(folder: Path) -> None:
    archive_path = shutil.make_archive(
        str(folder.parent / "images"), "zip", folder.parent, "images"
    )

    with ImageArchive(folder) as plain, ImageArchive(Path(archive_path)) as zipped:
        for name in ("000.jpg", "002.jpg"):
            assert zipped.read(name) == plain.read(name) == (folder / name).read_bytes()


def test_check_has_names_the_missing_images_and_the_list(folder: Path) -> None:
    with ImageArchive(folder) as archive:
        archive.check_has(["000.jpg", "001.jpg"], listed_in=Path("list.txt"))

        with pytest.raises(DatasetInvalid, match=r"list.txt: 1 rows name images missing .*'9.jpg'"):
            archive.check_has(["000.jpg", "9.jpg"], listed_in=Path("list.txt"))


@pytest.mark.parametrize("workers", [1, 2])
def test_decode_images_preprocesses_every_image_in_order(folder: Path, workers: int) -> None:
    names = ["002.jpg", "000.jpg", "001.jpg"]
    with ImageArchive(folder) as archive:
        pixels = decode_images(archive, names, PREPROCESSING, workers)

    assert pixels.shape == (3, 8, 8, 3) and pixels.dtype == np.uint8
    for index, name in enumerate(names):
        with Image.open(folder / name) as image:
            assert (pixels[index] == PREPROCESSING.to_pixels(image)).all()
