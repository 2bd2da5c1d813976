"""Folders of real images in each layout the folder dataset reads, written from Fashion-MNIST."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from training.datasets.fashion_mnist import FASHION_CLASSES
from training.datasets.splits import LabeledImages

# Attributes of a Fashion-MNIST image, from its class: each set holds the classes that have it.
ATTRIBUTES = {"Trouser": {1}, "Footwear": {5, 7, 9}, "Top": {0, 2, 4, 6}}


def class_folder(label: int) -> str:
    return FASHION_CLASSES[label].replace("/", "-")  # "T-shirt/top" is no folder name


def save(pixels: np.ndarray, path: Path, size: int = 40, mode: str = "RGB") -> None:
    """A 28x28 Fashion-MNIST image as a `size` x `size` file in `mode`, format by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels).convert(mode).resize((size, size), Image.Resampling.BILINEAR)
    if path.suffix == ".jpg":
        image.save(path, quality=90)
    else:
        image.save(path)


def write_class_folders(
    root: Path, split: LabeledImages, count: int, suffix: str = ".jpg", mode: str = "RGB"
) -> dict[str, int]:
    """root/<class>/<index><suffix> for the first `count` images: path -> class label."""
    written = {}
    for index in range(count):
        label = int(split.labels[index])
        path = f"{class_folder(label)}/{index:05d}{suffix}"
        save(split.pixels[index], root / path, mode=mode)
        written[path] = label
    return written


def attribute_rows(split: LabeledImages, count: int) -> list[dict[str, bool]]:
    return [
        {name: int(split.labels[index]) in classes for name, classes in ATTRIBUTES.items()}
        for index in range(count)
    ]


def write_metadata_folder(
    root: Path,
    split: LabeledImages,
    count: int,
    kind: str = "csv",
    words: tuple = ("0", "1"),
    folder: str = "images/",
) -> dict[str, dict[str, bool]]:
    """Grayscale PNGs in root/<folder> listed by root/metadata.<kind> with ATTRIBUTES columns,
    false and true written as `words` (a CSV) or JSON booleans (a .jsonl): path -> flags."""
    rows = {}
    for index, flags in enumerate(attribute_rows(split, count)):
        path = f"{folder}{index:05d}.png"
        save(split.pixels[index], root / path, mode="L")
        rows[path] = flags
    if kind == "csv":
        with (root / "metadata.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["file_name", *ATTRIBUTES])
            for path, flags in rows.items():
                writer.writerow([path, *(words[flag] for flag in flags.values())])
    else:
        lines = [json.dumps({"file_name": path, **flags}) for path, flags in rows.items()]
        (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return rows


def write_unlabeled(root: Path, split: LabeledImages, count: int) -> list[str]:
    paths = [f"{index:05d}.jpg" for index in range(count)]
    for index, path in enumerate(paths):
        save(split.pixels[index], root / path)
    return paths


def write_split_folders(root: Path, train: LabeledImages, test: LabeledImages) -> None:
    """train/ (200 images), val/ (40) and test/ (40) of class folders: val from the end of the
    training images, test from the test images."""
    write_class_folders(root / "train", train, 200)
    write_class_folders(root / "val", train.subset(slice(-40, None)), 40)
    write_class_folders(root / "test", test, 40)
