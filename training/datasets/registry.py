"""The one table of the datasets that training knows, by name: how to load each, the image sides
it can give the model, and the architecture and loss that suit it.

Adding a dataset is a module with its loader and one entry in `DATASETS`; the command line's
`--dataset` choices and defaults come from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from training.datasets.celeba import CELEBA_DEFAULT_IMAGE_SIZE, CELEBA_IMAGE_SIZES, load_celeba
from training.datasets.fashion_mnist import FASHION_IMAGE_SIZE, load_fashion_mnist
from training.datasets.splits import DatasetSplits
from training.errors import ConfigError, DatasetNotFound
from training.vocabulary import Reconstruction

Loader = Callable[[Path | None, int], DatasetSplits]
"""(the data folder, or None for the dataset's usual places; the image side) -> the splits."""


@dataclass(frozen=True)
class DatasetEntry:
    """How to load one dataset, and what a run on it takes unless told otherwise."""

    load: Loader
    image_sizes: tuple[int, ...]  # the sides of the model input that it can produce
    default_image_size: int
    preset: str  # the architecture that suits it: a key of training.config.PRESETS
    reconstruction: Reconstruction  # the reconstruction term that suits its pixels


DATASETS: dict[str, DatasetEntry] = {
    "fashion-mnist": DatasetEntry(
        load=lambda data_dir, _image_size: load_fashion_mnist(data_dir),
        image_sizes=(FASHION_IMAGE_SIZE,),
        default_image_size=FASHION_IMAGE_SIZE,
        preset="fashion",
        reconstruction="bce",
    ),
    "celeba": DatasetEntry(
        load=lambda data_dir, image_size: load_celeba(data_dir, image_size=image_size),
        image_sizes=CELEBA_IMAGE_SIZES,
        default_image_size=CELEBA_DEFAULT_IMAGE_SIZE,
        preset="faces",
        reconstruction="mse",
    ),
}


def dataset_entry(name: str) -> DatasetEntry:
    """The entry of the dataset `name`; DatasetNotFound lists the names there are."""
    if name not in DATASETS:
        raise DatasetNotFound(f"unknown dataset {name!r}: expected {' or '.join(DATASETS)}")
    return DATASETS[name]


def resolve_image_size(name: str, requested: int | None) -> int:
    """The side of the images that dataset `name` gives the model: `requested`, or the dataset's
    default when it is None. ConfigError when the dataset cannot produce that side."""
    entry = dataset_entry(name)
    if requested is None:
        return entry.default_image_size
    if requested not in entry.image_sizes:
        sides = ", ".join(str(side) for side in entry.image_sizes)
        raise ConfigError(
            f"{name} gives images of side {sides} (default {entry.default_image_size}), "
            f"not {requested}"
        )
    return requested


def load_dataset(
    name: str, data_dir: Path | None = None, image_size: int | None = None
) -> DatasetSplits:
    """Load a dataset by name with images of side `image_size` (None: the dataset's default)."""
    return dataset_entry(name).load(data_dir, resolve_image_size(name, image_size))
