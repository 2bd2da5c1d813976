"""Tiny configurations on real Fashion-MNIST, so training tests take seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import ModelConfig, TrainConfig
from training.datasets.fashion_mnist import load_fashion_mnist
from training.datasets.splits import DatasetSplits

TINY = ModelConfig(kind="vae", widths=(4, 8), latent_dim=2)


@pytest.fixture(scope="session")
def fashion(fashion_dir: Path) -> DatasetSplits:
    return load_fashion_mnist(fashion_dir)


@pytest.fixture(scope="session")
def small_fashion(fashion: DatasetSplits) -> DatasetSplits:
    """512 train, 256 val and 512 test images of the real dataset."""
    return DatasetSplits(
        name=fashion.name,
        train=fashion.train.subset(slice(0, 512)),
        val=fashion.val.subset(slice(0, 256)),
        test=fashion.test.subset(slice(0, 512)),
        preprocessing=fashion.preprocessing,
    )


def tiny_run(fashion_dir: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = {
        "name": "tiny",
        "data_dir": str(fashion_dir),
        "epochs": 1,
        "batch_size": 64,
        "max_train_images": 256,
        "nll_samples": 2,
        "seed": 3,
    }
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]
