"""CelebA (aligned and cropped faces, 40 binary attributes) read from any of its common layouts.

Under the dataset root (`OFFICIAL` and `KAGGLE` name the files of each layout):

- Kaggle's: `img_align_celeba/img_align_celeba/*.jpg`, `list_attr_celeba.csv`,
  `list_eval_partition.csv`;
- the official one: `img_align_celeba/*.jpg`, `list_attr_celeba.txt`, `list_eval_partition.txt`;
- either, with the images read in place from `img_align_celeba.zip` when no folder holds them.

Each part is detected on its own, so the text and CSV lists may be mixed: the images in Kaggle's
nested folder, else the official folder, else the zip; each list in its official `.txt`, else
Kaggle's `.csv`. Every row is checked against the images and the partition before any JPEG is
decoded, so a broken copy fails in a second rather than after minutes. The lists are written here
too (`write_attributes`, `write_partition`), in the format they are read in.
"""

from __future__ import annotations

import csv
import difflib
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from training.datasets.images import ImageArchive, decode_images
from training.datasets.splits import DatasetSplits, LabeledImages
from training.errors import ConfigError, DatasetInvalid, DatasetNotFound
from vae_core.preprocess import Preprocessing

# fmt: off
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
# fmt: on
CELEBA_IMAGE_SIZES = (32, 64, 128)
CELEBA_DEFAULT_IMAGE_SIZE = 64
CELEBA_SPLITS = ("train", "val", "test")  # partition codes 0, 1, 2


@dataclass(frozen=True)
class CelebaLayoutFiles:
    """Where one layout keeps each part of CelebA, relative to the dataset root."""

    images: str  # the folder of aligned JPEGs; also their folder inside IMAGE_ZIP
    attributes: str  # the attribute list: 40 values of -1 or 1 per image
    partition: str  # the partition list: 0 (train), 1 (val) or 2 (test) per image


OFFICIAL = CelebaLayoutFiles(
    images="img_align_celeba",
    attributes="list_attr_celeba.txt",
    partition="list_eval_partition.txt",
)
KAGGLE = CelebaLayoutFiles(
    images="img_align_celeba/img_align_celeba",
    attributes="list_attr_celeba.csv",
    partition="list_eval_partition.csv",
)
IMAGE_ZIP = "img_align_celeba.zip"  # either layout's image folder, zipped
CelebaLayoutName = Literal["official", "kaggle"]
CELEBA_LAYOUTS: dict[CelebaLayoutName, CelebaLayoutFiles] = {"official": OFFICIAL, "kaggle": KAGGLE}
# Detection order of each part: the official lists first, but Kaggle's image folder first, since
# Kaggle's nests inside a folder of the official name.
LIST_ORDER = (OFFICIAL, KAGGLE)
IMAGE_FOLDER_ORDER = (KAGGLE, OFFICIAL)


def load_celeba(
    root: Path | str | None,
    image_size: int = CELEBA_DEFAULT_IMAGE_SIZE,
    max_images: int | None = None,
    workers: int = 2,
) -> DatasetSplits:
    """CelebA's official train/val/test partition as uint8 [N, S, S, 3] and bool [N, 40] labels.

    `root=None` reads `$CELEBA_DIR`. `image_size` S is 32, 64 or 128: each image is centre-cropped
    to 178x178 and resized bilinearly by the `Preprocessing` the service applies to uploads.
    `max_images` keeps about that many images for quick runs: the first of each split, in
    proportion to the split's size, at least one per split. Raises DatasetNotFound for a missing
    folder or file and DatasetInvalid for lists that disagree with each other or with the images.
    """
    preprocessing = celeba_preprocessing(image_size)
    if max_images is not None and max_images < 1:
        raise ConfigError(f"max_images must be at least 1, got {max_images}")
    found = find_layout(find_celeba_root(root))
    table = read_attributes(found.attributes)
    partition = read_partition(found.partition, table)
    splits = split_indices(partition, max_images)
    with ImageArchive(found.images) as archive:
        archive.check_has(table.image_names, listed_in=table.source)
        names = [table.image_names[i] for i in np.concatenate(splits)]
        pixels = decode_images(archive, names, preprocessing, workers, desc="decoding CelebA")
    ends = np.cumsum([len(s) for s in splits])
    train, val, test = (
        LabeledImages(
            pixels[end - len(s) : end], table.labels[s], list(CELEBA_ATTRIBUTES), "attribute"
        )
        for s, end in zip(splits, ends, strict=True)
    )
    return DatasetSplits("celeba", train, val, test, preprocessing)


def celeba_preprocessing(image_size: int) -> Preprocessing:
    """Centre square crop (178x178 of the 178x218 aligned images), then a bilinear resize."""
    if image_size not in CELEBA_IMAGE_SIZES:
        raise ConfigError(
            f"CelebA image_size must be one of {CELEBA_IMAGE_SIZES}, got {image_size}"
        )
    return Preprocessing(
        color_mode="RGB", crop="center_square", resize=(image_size, image_size), pad=0
    )


def attribute_index(names: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """Column of each `wanted` attribute in `names` (e.g. CELEBA_ATTRIBUTES), in `wanted` order."""
    unknown = [name for name in wanted if name not in names]
    if unknown:
        hints = [
            f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)
            for name in unknown
            for close in [difflib.get_close_matches(name, names, n=1)]
        ]
        raise ConfigError(
            f"unknown attribute {', '.join(hints)}; valid attributes: {', '.join(names)}"
        )
    return [list(names).index(name) for name in wanted]


# ---------------------------------------------------------------------------------- locating


@dataclass(frozen=True)
class CelebaParts:
    """The three parts of a CelebA copy; `images` is a folder of JPEGs or the zip archive."""

    attributes: Path
    partition: Path
    images: Path


def find_celeba_root(root: Path | str | None) -> Path:
    """The given folder, else `$CELEBA_DIR`; DatasetNotFound saying where it looked."""
    if root is not None:
        source, path = "the data dir", Path(root)
    elif os.environ.get("CELEBA_DIR"):
        source, path = "$CELEBA_DIR", Path(os.environ["CELEBA_DIR"])
    else:
        raise DatasetNotFound(
            "CelebA not found: no data dir given and $CELEBA_DIR is not set. Pass --data-dir DIR "
            f"(or set CELEBA_DIR) to a folder holding {OFFICIAL.images}/ or {IMAGE_ZIP}, "
            f"{OFFICIAL.attributes} and {OFFICIAL.partition} (or Kaggle's .csv lists); "
            "`python -m training faces --out DIR` writes a drawn stand-in."
        )
    if not path.is_dir():
        raise DatasetNotFound(f"CelebA folder {path} (from {source}) does not exist")
    return path


def find_layout(root: Path) -> CelebaParts:
    """Detect the official, Kaggle or zip layout under `root`; DatasetNotFound names what lacks."""
    attribute_names = [files.attributes for files in LIST_ORDER]
    partition_names = [files.partition for files in LIST_ORDER]
    attributes = _first_file(root, attribute_names)
    partition = _first_file(root, partition_names)
    images = _image_location(root)
    missing = [
        " or ".join(candidates)
        for found, candidates in (
            (attributes, attribute_names),
            (partition, partition_names),
            (images, [*(f"{files.images}/*.jpg" for files in IMAGE_FOLDER_ORDER), IMAGE_ZIP]),
        )
        if found is None
    ]
    if attributes is None or partition is None or images is None:
        raise DatasetNotFound(f"{root} is not a CelebA folder: missing {'; '.join(missing)}")
    return CelebaParts(attributes, partition, images)


def _first_file(root: Path, names: Sequence[str]) -> Path | None:
    return next((root / name for name in names if (root / name).is_file()), None)


def _image_location(root: Path) -> Path | None:
    for files in IMAGE_FOLDER_ORDER:
        folder = root / files.images
        if folder.is_dir() and any(folder.glob("*.jpg")):
            return folder
    return root / IMAGE_ZIP if (root / IMAGE_ZIP).is_file() else None


# ---------------------------------------------------------------------------------- lists


@dataclass(frozen=True)
class AttributeTable:
    """The attribute list: one image per row, `labels` bool [N, 40] in CELEBA_ATTRIBUTES order."""

    source: Path
    image_names: list[str]
    labels: np.ndarray


def read_attributes(path: Path) -> AttributeTable:
    """Parse `list_attr_celeba.txt` (count line, names line, rows) or Kaggle's `.csv`."""
    lines = _content_lines(path)
    if path.suffix == ".csv":
        rows = list(csv.reader(lines))
        if not rows or rows[0][:1] != ["image_id"]:
            raise DatasetInvalid(f"{path}: the header must start with image_id")
        return _attribute_table(path, rows[0][1:], rows[1:], first_line=2)
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DatasetInvalid(f"{path} line 1: expected the image count, got {lines[:1]}")
    table = _attribute_table(path, lines[1].split(), (line.split() for line in lines[2:]), 3)
    if int(lines[0]) != len(table.image_names):
        raise DatasetInvalid(
            f"{path}: line 1 counts {int(lines[0])} images but {len(table.image_names)} rows follow"
        )
    return table


def _attribute_table(
    path: Path, header: list[str], rows: Iterable[list[str]], first_line: int
) -> AttributeTable:
    if tuple(header) != CELEBA_ATTRIBUTES:
        missing = [name for name in CELEBA_ATTRIBUTES if name not in header]
        extra = [name for name in header if name not in CELEBA_ATTRIBUTES]
        raise DatasetInvalid(
            f"{path}: the header must name the 40 CelebA attributes in the official order "
            f"(missing: {missing}, unexpected: {extra})"
        )
    names: list[str] = []
    flags: list[bytes] = []  # one 40-byte row each: far smaller than lists of Python bools
    for number, tokens in enumerate(rows, start=first_line):
        names.append(_check_attribute_row(path, number, tokens))
        flags.append(bytes(value == "1" for value in tokens[1:]))
    if not names:
        raise DatasetInvalid(f"{path}: no image rows")
    repeated = [name for name, rows in Counter(names).items() if rows > 1]
    if repeated:
        raise DatasetInvalid(f"{path}: image {repeated[0]} has more than one row")
    labels = np.frombuffer(b"".join(flags), dtype=np.bool_).reshape(len(names), 40)
    return AttributeTable(path, names, labels)


def _check_attribute_row(path: Path, number: int, tokens: list[str]) -> str:
    """The row's image name, after checking it has 40 values of -1 or 1."""
    if len(tokens) != 41:
        raise DatasetInvalid(
            f"{path} line {number}: {len(tokens)} fields, expected an image name and 40 values"
        )
    for attribute, value in zip(CELEBA_ATTRIBUTES, tokens[1:], strict=True):
        if value not in ("-1", "1"):
            raise DatasetInvalid(
                f"{path} line {number}: {attribute} is {value!r}, expected -1 or 1"
            )
    return tokens[0]


def read_partition(path: Path, table: AttributeTable) -> np.ndarray:
    """int8 [N], per attribute row: 0 train, 1 val, 2 test. Every row needs exactly one entry."""
    lines = _content_lines(path)
    if path.suffix == ".csv":
        if lines[:1] != ["image_id,partition"]:
            raise DatasetInvalid(f"{path} line 1: expected the header image_id,partition")
        rows: Iterable[list[str]] = csv.reader(lines[1:])
        first_line = 2
    else:
        rows, first_line = (line.split() for line in lines), 1
    row_of = {name: i for i, name in enumerate(table.image_names)}
    partition = np.full(len(row_of), -1, dtype=np.int8)
    unknown: list[str] = []
    for number, tokens in enumerate(rows, start=first_line):
        if len(tokens) != 2 or tokens[1] not in ("0", "1", "2"):
            raise DatasetInvalid(f"{path} line {number}: expected '<image> <0|1|2>', got {tokens}")
        if tokens[0] in row_of:
            partition[row_of[tokens[0]]] = int(tokens[1])
        else:
            unknown.append(tokens[0])
    if unknown:
        raise DatasetInvalid(
            f"{path}: {len(unknown)} images are not in {table.source.name}, e.g. {unknown[:5]}"
        )
    unassigned = [table.image_names[i] for i in np.flatnonzero(partition < 0)[:5]]
    if unassigned:
        raise DatasetInvalid(f"{path}: images of {table.source.name} lack a split: {unassigned}")
    return partition


def _content_lines(path: Path) -> list[str]:
    """The file's lines without trailing blank ones (many copies end with an empty line)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def write_attributes(path: Path, image_names: Sequence[str], rows: np.ndarray) -> None:
    """Write an attribute list as `read_attributes` reads it: Kaggle's CSV for a `.csv` path, else
    the official text (count, names, then right-aligned values). `rows`: int8 [N, 40] of -1/1."""
    named_rows = list(zip(image_names, rows.tolist(), strict=True))
    if path.suffix == ".csv":
        _write_csv(path, ["image_id", *CELEBA_ATTRIBUTES], [[n, *row] for n, row in named_rows])
        return
    lines = [name + "".join(f" {value:2d}" for value in row) for name, row in named_rows]
    path.write_text("\n".join([str(len(lines)), " ".join(CELEBA_ATTRIBUTES), *lines]) + "\n")


def write_partition(path: Path, image_names: Sequence[str], partition: np.ndarray) -> None:
    """Write a partition list as `read_partition` reads it: CSV for a `.csv` path, else text.
    `partition`: int8 [N] of 0 (train), 1 (val) or 2 (test)."""
    named_rows = list(zip(image_names, partition.tolist(), strict=True))
    if path.suffix == ".csv":
        _write_csv(path, ["image_id", "partition"], named_rows)
        return
    path.write_text("".join(f"{name} {code}\n" for name, code in named_rows))


def _write_csv(path: Path, header: list[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def split_indices(partition: np.ndarray, max_images: int | None) -> list[np.ndarray]:
    """Row indices of train, val and test; with `max_images`, the first ones in proportion."""
    splits = [np.flatnonzero(partition == code) for code in range(len(CELEBA_SPLITS))]
    if max_images is None or max_images >= len(partition):
        return splits
    held_out = [
        min(len(s), max(1, round(max_images * len(s) / len(partition)))) for s in splits[1:]
    ]
    quotas = [max(1, max_images - sum(held_out)), *held_out]
    return [s[:quota] for s, quota in zip(splits, quotas, strict=True)]
