"""The one table of the datasets that training knows, by name: how to load each, the image sides
it can give the model, and the architecture and loss that suit it.

Adding a dataset is a module with its loader and one entry in `DATASETS`; the command line's
`--dataset` choices and defaults come from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from training.datasets.celeba import CELEBA_DEFAULT_IMAGE_SIZE, CELEBA_IMAGE_SIZES, load_celeba
from training.datasets.fashion_mnist import FASHION_IMAGE_SIZE, load_fashion_mnist
from training.datasets.folder import FOLDER_DEFAULT_IMAGE_SIZE, FOLDER_IMAGE_SIZES, load_folder
from training.datasets.splits import DatasetSplits, LoadOptions
from training.errors import ConfigError, DatasetNotFound
from vae_core.vocabulary import Reconstruction

Loader = Callable[[Path | None, int, LoadOptions], DatasetSplits]
"""(the data folder, or None for the dataset's usual places; the image side; the run's options)
-> the splits."""


@dataclass(frozen=True)
class DatasetEntry:
    """How to load one dataset, and what a run on it takes unless told otherwise."""

    load: Loader
    image_sizes: Sequence[int]  # the sides of the model input that it can produce
    default_image_size: int
    preset: str  # the architecture that suits it: a key of training.config.PRESETS
    reconstruction: Reconstruction  # the reconstruction term that suits its pixels
    own_images: bool = False  # whether it takes the run's channels, fit and split options


DATASETS: dict[str, DatasetEntry] = {
    "fashion-mnist": DatasetEntry(
        load=lambda data_dir, _image_size, _options: load_fashion_mnist(data_dir),
        image_sizes=(FASHION_IMAGE_SIZE,),
        default_image_size=FASHION_IMAGE_SIZE,
        preset="fashion",
        reconstruction="bce",
    ),
    "celeba": DatasetEntry(
        load=lambda data_dir, image_size, options: load_celeba(
            data_dir, image_size=image_size, workers=options.workers
        ),
        image_sizes=CELEBA_IMAGE_SIZES,
        default_image_size=CELEBA_DEFAULT_IMAGE_SIZE,
        preset="faces",
        reconstruction="mse",
    ),
    "folder": DatasetEntry(
        load=load_folder,
        image_sizes=FOLDER_IMAGE_SIZES,
        default_image_size=FOLDER_DEFAULT_IMAGE_SIZE,
        preset="faces",
        reconstruction="mse",
        own_images=True,
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
        raise ConfigError(
            f"{name} gives images of side {describe_sides(entry.image_sizes, ', ')} "
            f"(default {entry.default_image_size}), not {requested}"
        )
    return requested


def describe_sides(sides: Sequence[int], separator: str) -> str:
    """The sides a dataset gives, e.g. "32, 64, 128", or a range as "8 to 1024"."""
    if isinstance(sides, range):
        return f"{sides.start} to {sides.stop - 1}"
    return separator.join(str(side) for side in sides)


def load_dataset(
    name: str,
    data_dir: Path | None = None,
    image_size: int | None = None,
    options: LoadOptions | None = None,
) -> DatasetSplits:
    """Load a dataset by name with images of side `image_size` (None: the dataset's default)."""
    side = resolve_image_size(name, image_size)
    return dataset_entry(name).load(data_dir, side, options or LoadOptions())
