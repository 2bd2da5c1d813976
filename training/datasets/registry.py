"""`load_dataset(name, ...)`: the one table of the datasets that training knows, by name."""

from __future__ import annotations

from pathlib import Path

from training.datasets.celeba import load_celeba
from training.datasets.fashion_mnist import load_fashion_mnist
from training.datasets.splits import DatasetSplits
from training.errors import DatasetNotFound


def load_dataset(name: str, data_dir: Path | None = None, image_size: int = 64) -> DatasetSplits:
    """Load a dataset by name: fashion-mnist, or celeba (official, Kaggle or zip layout)."""
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if name == "celeba":
        return load_celeba(data_dir, image_size=image_size)
    raise DatasetNotFound(f"unknown dataset {name!r}: expected fashion-mnist or celeba")
