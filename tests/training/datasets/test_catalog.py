"""The dataset registry: names, default image sides, and the sides a dataset cannot give."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.datasets.conftest import all_labels
from training.config import PRESETS, TrainConfig
from training.datasets.catalog import DATASETS, load_dataset, resolve_image_size
from training.datasets.splits import DatasetSplits
from training.errors import ConfigError, DatasetNotFound

pytestmark = pytest.mark.unit


def test_load_dataset_reads_celeba(official: Path, official_splits: DatasetSplits) -> None:
    splits = load_dataset("celeba", official, image_size=32)

    assert (all_labels(splits) == all_labels(official_splits)).all()


def test_load_dataset_gives_celeba_at_64_unless_told(official: Path) -> None:
    splits = load_dataset("celeba", official)

    assert splits.preprocessing.resize == (64, 64)
    assert splits.train.pixels.shape[1:] == (64, 64, 3)


def test_load_dataset_gives_fashion_mnist_padded_to_32(fashion_dir: Path) -> None:
    splits = load_dataset("fashion-mnist", fashion_dir)

    assert splits.preprocessing.output_shape == (1, 32, 32)
    assert splits.train.pixels.shape[1:] == (28, 28)


@pytest.mark.parametrize(("name", "side"), [("fashion-mnist", 32), ("celeba", 64), ("folder", 64)])
def test_no_image_size_means_the_datasets_default(name: str, side: int) -> None:
    assert resolve_image_size(name, None) == side


@pytest.mark.parametrize(
    ("name", "side"), [("fashion-mnist", 32), ("celeba", 32), ("celeba", 128), ("folder", 96)]
)
def test_a_side_the_dataset_gives_is_kept(name: str, side: int) -> None:
    assert resolve_image_size(name, side) == side


@pytest.mark.parametrize(
    ("name", "side", "message"),
    [
        ("fashion-mnist", 64, "fashion-mnist gives images of side 32 (default 32), not 64"),
        ("fashion-mnist", 28, "fashion-mnist gives images of side 32 (default 32), not 28"),
        ("celeba", 48, "celeba gives images of side 32, 64, 128 (default 64), not 48"),
        ("folder", 2048, "folder gives images of side 8 to 1024 (default 64), not 2048"),
    ],
)
def test_a_side_the_dataset_cannot_give_is_a_config_error(
    name: str, side: int, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_image_size(name, side)

    assert str(error.value) == message


def test_load_dataset_refuses_the_side_before_looking_for_the_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not 64"):
        load_dataset("fashion-mnist", tmp_path / "nowhere", image_size=64)


def test_an_unknown_dataset_is_not_found_and_the_known_ones_are_named() -> None:
    with pytest.raises(
        DatasetNotFound, match="unknown dataset 'mnist': expected fashion-mnist or celeba"
    ):
        load_dataset("mnist")


def test_every_entry_defaults_to_a_side_it_gives_and_a_preset_that_exists() -> None:
    for name, entry in DATASETS.items():
        assert entry.default_image_size in entry.image_sizes, name
        assert entry.preset in PRESETS, name


def test_train_config_defaults_are_its_default_datasets() -> None:
    config = TrainConfig()
    entry = DATASETS[config.dataset]

    assert config.image_size == resolve_image_size(config.dataset, None)
    assert config.reconstruction == entry.reconstruction
