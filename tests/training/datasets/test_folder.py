"""A folder of images as a dataset: each layout gives its labels, the splits come from subfolders
or a seeded draw, and every image becomes exactly what the service makes of the same file."""

from __future__ import annotations

import io
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.training.datasets.folders import (
    ATTRIBUTES,
    class_folder,
    save,
    write_class_folders,
    write_metadata_folder,
    write_split_folders,
    write_unlabeled,
)
from training.datasets.catalog import load_dataset
from training.datasets.splits import DatasetSplits, LoadOptions

pytestmark = pytest.mark.unit

SIDE = 16


def load(root: Path, **options: object) -> DatasetSplits:
    return load_dataset("folder", root, SIDE, LoadOptions(workers=1, **options))  # type: ignore[arg-type]


def source_of_each_row(
    data: DatasetSplits, root: Path, paths: list[str], rows: np.ndarray | None = None
) -> list[str]:
    """The file each decoded image (of every split, or `rows`) came from, found by preprocessing
    every file as the service preprocesses an upload; fails if an image matches no file."""
    by_pixels = {}
    for path in paths:
        with Image.open(root / path) as image:
            by_pixels[data.preprocessing.to_pixels(image).tobytes()] = path
    if rows is None:
        rows = np.concatenate([data.train.pixels, data.val.pixels, data.test.pixels])
    return [by_pixels[row.tobytes()] for row in rows]


def all_labels(data: DatasetSplits) -> np.ndarray:
    return np.concatenate([data.train.labels, data.val.labels, data.test.labels])


def test_class_folders_give_each_image_its_folders_class(
    fashion: DatasetSplits, tmp_path: Path
) -> None:
    written = write_class_folders(tmp_path, fashion.train, 60)

    data = load(tmp_path)

    names = sorted({class_folder(label) for label in written.values()})
    assert data.train.label_names == names and data.train.label_kind == "class"
    sources = source_of_each_row(data, tmp_path, list(written))
    assert sorted(sources) == sorted(written)  # every image once
    expected = [names.index(class_folder(written[path])) for path in sources]
    assert all_labels(data).tolist() == expected
    assert data.card is not None and data.card.layout == "class_folders"
    counted = Counter()
    for split in data.card.splits.values():
        counted.update(split.label_counts)
    assert counted == Counter(class_folder(label) for label in written.values())


@pytest.mark.parametrize(
    ("kind", "words"),
    [("csv", ("0", "1")), ("csv", ("-1", "1")), ("csv", ("False", "TRUE")), ("jsonl", ())],
)
def test_a_metadata_file_gives_an_attribute_per_column(
    fashion: DatasetSplits, tmp_path: Path, kind: str, words: tuple[str, ...]
) -> None:
    rows = write_metadata_folder(tmp_path, fashion.train, 50, kind, words)

    data = load(tmp_path)

    assert data.train.label_names == list(ATTRIBUTES) and data.train.label_kind == "attribute"
    sources = source_of_each_row(data, tmp_path, list(rows))
    expected = [list(rows[path].values()) for path in sources]
    assert all_labels(data).tolist() == expected
    assert data.card is not None and data.card.layout == "metadata"
    trousers = sum(split.label_counts["Trouser"] for split in data.card.splits.values())
    assert trousers == sum(flags["Trouser"] for flags in rows.values()) > 0


def test_an_unlabeled_folder_has_no_labels(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_unlabeled(tmp_path, fashion.train, 30)

    data = load(tmp_path)

    assert data.train.label_kind == "none" and data.train.label_names == []
    assert all_labels(data).shape == (30, 0)
    assert data.card is not None and data.card.layout == "unlabeled"
    assert all(split.label_counts == {} for split in data.card.splits.values())


def test_a_folder_without_split_folders_is_drawn_80_10_10_by_the_seed(
    fashion: DatasetSplits, tmp_path: Path
) -> None:
    write_unlabeled(tmp_path, fashion.train, 100)

    first, again, other = load(tmp_path), load(tmp_path), load(tmp_path, split_seed=1)

    assert (len(first.train), len(first.val), len(first.test)) == (80, 10, 10)
    assert first.card is not None and first.card.split_seed == 0
    assert {split.source for split in first.card.splits.values()} == {"seeded"}
    assert np.array_equal(first.test.pixels, again.test.pixels)
    assert not np.array_equal(first.test.pixels, other.test.pixels)


def test_split_folders_are_the_splits(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_split_folders(tmp_path, fashion.train, fashion.test)

    data = load(tmp_path)

    assert (len(data.train), len(data.val), len(data.test)) == (200, 40, 40)
    test_files = [str(path.relative_to(tmp_path)) for path in tmp_path.glob("test/*/*.jpg")]
    test_sources = source_of_each_row(data, tmp_path, test_files, data.test.pixels)
    assert sorted(test_sources) == sorted(test_files)
    assert data.card is not None
    assert {split.source for split in data.card.splits.values()} == {"folder"}


def test_a_missing_test_folder_is_drawn_from_train(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_split_folders(tmp_path, fashion.train, fashion.test)
    shutil.rmtree(tmp_path / "test")
    (tmp_path / "val").rename(tmp_path / "validation")

    data = load(tmp_path)

    assert (len(data.train), len(data.val), len(data.test)) == (180, 40, 20)
    assert data.card is not None
    sources = {name: split.source for name, split in data.card.splits.items()}
    assert sources == {"train": "folder", "val": "folder", "test": "seeded"}


def test_channels_follow_the_images_unless_told(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_class_folders(tmp_path / "gray", fashion.train, 20, suffix=".png", mode="L")
    write_class_folders(tmp_path / "rgb", fashion.train, 20, mode="RGB")

    assert load(tmp_path / "gray").preprocessing.color_mode == "L"
    assert load(tmp_path / "rgb").preprocessing.color_mode == "RGB"
    assert load(tmp_path / "gray", channels=3).train.pixels.shape[1:] == (SIDE, SIDE, 3)
    save(fashion.train.pixels[99], tmp_path / "gray" / "Bag" / "colour.png", mode="RGB")
    assert load(tmp_path / "gray").preprocessing.color_mode == "RGB"  # one colour image is enough


def test_fit_pad_is_recorded_as_pad_square(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_unlabeled(tmp_path, fashion.train, 20)

    assert load(tmp_path, fit="pad").preprocessing.crop == "pad_square"
    assert load(tmp_path).preprocessing.crop == "center_square"


def odd_images() -> dict[str, bytes]:
    """Files of other sizes, modes and formats, as users' folders hold them."""
    rng = np.random.default_rng(0)

    def encoded(image: Image.Image, format: str, **options: object) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format, **options)
        return buffer.getvalue()

    def rgb() -> Image.Image:  # a new one each time, so that no two files give the same pixels
        return Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to display
    upright = rgb()
    return {
        "alpha.png": encoded(rgb().convert("RGBA"), "PNG"),
        "deep.png": encoded(Image.fromarray(rng.integers(0, 65535, (20, 20), np.uint16)), "PNG"),
        "palette.gif": encoded(rgb().convert("P"), "GIF"),
        "cmyk.jpg": encoded(rgb().convert("CMYK"), "JPEG"),
        "rotated.jpg": encoded(upright, "JPEG", exif=exif),
        "upright.jpg": encoded(upright, "JPEG"),
        "small.webp": encoded(rgb().resize((7, 9)), "WEBP"),
        "scan.tiff": encoded(rgb().convert("L"), "TIFF"),
        "plain.bmp": encoded(rgb(), "BMP"),
    }


def test_any_mix_of_sizes_and_modes_becomes_what_an_upload_would(tmp_path: Path) -> None:
    for name, data in odd_images().items():
        (tmp_path / name).write_bytes(data)

    data = load(tmp_path, min_train_images=1)

    assert data.preprocessing.color_mode == "RGB"
    assert sorted(source_of_each_row(data, tmp_path, list(odd_images()))) == sorted(odd_images())
    rotated = data.preprocessing.to_pixels(Image.open(tmp_path / "rotated.jpg"))
    upright = data.preprocessing.to_pixels(Image.open(tmp_path / "upright.jpg"))
    assert np.abs(rotated.astype(int) - upright).mean() > 20  # turned: the same JPEG differs


def test_each_split_folder_may_carry_its_own_metadata_file(
    fashion: DatasetSplits, tmp_path: Path
) -> None:
    rows = {}
    for split, start, count in (("train", 0, 40), ("val", 40, 10), ("test", 50, 10)):
        images = fashion.train.subset(slice(start, start + count))
        written = write_metadata_folder(tmp_path / split, images, count, "jsonl")
        rows |= {f"{split}/{path}": flags for path, flags in written.items()}

    data = load(tmp_path)

    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 10)
    sources = source_of_each_row(data, tmp_path, list(rows), data.train.pixels)
    assert data.train.labels.tolist() == [list(rows[path].values()) for path in sources]
