"""A small CelebA copy written by the faces generator, shared by the CelebA and registry tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.datasets.celeba import CelebaLayoutName, load_celeba
from training.datasets.splits import DatasetSplits
from training.faces.writer import generate_faces

SEED, COUNT = 7, 30  # 24 train, 3 val, 3 test


def generated(factory: pytest.TempPathFactory, layout: CelebaLayoutName, zip_images: bool) -> Path:
    out = factory.mktemp(f"{layout}-zip" if zip_images else layout)
    return generate_faces(
        out / "celeba", COUNT, seed=SEED, layout=layout, zip_images=zip_images, workers=1
    )


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated(tmp_path_factory, "official", zip_images=False)


@pytest.fixture(scope="module")
def official_splits(official: Path) -> DatasetSplits:
    return load_celeba(official, image_size=32, workers=1)


def all_labels(splits: DatasetSplits) -> np.ndarray:
    return np.concatenate([splits.train.labels, splits.val.labels, splits.test.labels])
