"""Fashion-MNIST: the published splits, where the files are looked for, the download, IDX."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from training.datasets.fashion_mnist import (
    FASHION_CLASSES,
    FASHION_FILES,
    find_fashion_mnist,
    read_idx,
)
from training.datasets.splits import DatasetSplits
from training.errors import DatasetInvalid, DatasetNotFound

pytestmark = pytest.mark.unit


def test_fashion_mnist_has_the_published_counts_and_shapes(fashion: DatasetSplits) -> None:
    assert len(fashion.train) + len(fashion.val) == 60000
    assert len(fashion.test) == 10000
    assert fashion.train.pixels.shape[1:] == (28, 28)
    assert fashion.test.pixels.dtype == np.uint8
    assert set(np.unique(fashion.test.labels)) == set(range(10))
    assert fashion.test.label_names == FASHION_CLASSES


def test_every_class_has_a_thousand_test_images(fashion: DatasetSplits) -> None:
    assert np.bincount(fashion.test.labels).tolist() == [1000] * 10


def test_preprocessing_scales_to_unit_range_and_pads_to_32(fashion: DatasetSplits) -> None:
    x = fashion.preprocessing.to_tensor(fashion.test.pixels[:8])
    assert x.shape == (8, 1, 32, 32)
    assert x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.all(x[:, :, :2, :] == 0) and np.all(x[:, :, :, -2:] == 0)
    np.testing.assert_allclose(x[:, 0, 2:30, 2:30], fashion.test.pixels[:8] / 255.0, atol=1e-6)


def test_data_dir_argument_is_searched_first(fashion_dir: Path, tmp_path: Path) -> None:
    for name in FASHION_FILES:
        (tmp_path / f"{name}.gz").symlink_to(fashion_dir / f"{name}.gz")
    assert find_fashion_mnist(tmp_path) == tmp_path


def test_environment_variable_is_searched_before_the_system_copy(
    fashion_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in FASHION_FILES:
        (tmp_path / f"{name}.gz").symlink_to(fashion_dir / f"{name}.gz")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    assert find_fashion_mnist(None) == tmp_path


def test_missing_dataset_error_lists_every_place_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "env"))
    monkeypatch.setattr("training.datasets.fashion_mnist.FASHION_SYSTEM_DIR", tmp_path / "system")

    def offline(cache: Path) -> None:
        raise OSError("network unreachable")

    with pytest.raises(DatasetNotFound) as err:
        find_fashion_mnist(tmp_path / "arg", download=offline)
    message = str(err.value)
    for place in ("arg", "env", "system", "download", "network unreachable"):
        assert place in message


def test_a_download_that_fails_its_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FakeResponse:
        def __enter__(self) -> FakeResponse:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def read(self) -> bytes:
            return gzip.compress(b"not the dataset")

    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: FakeResponse())
    from training.datasets.fashion_mnist import download_fashion_mnist

    with pytest.raises(OSError, match="sha256"):
        download_fashion_mnist(tmp_path)
    assert not list(tmp_path.glob("*.gz"))


def _idx(magic_type: int, dims: tuple[int, ...], body: bytes) -> bytes:
    header = bytes([0, 0, magic_type, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return gzip.compress(header + body)


def test_idx_reader_accepts_a_well_formed_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.gz"
    path.write_bytes(_idx(0x08, (2, 3), bytes(range(6))))
    assert read_idx(path, (2, 3)).tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_idx(0x0D, (2, 3), bytes(24)), "unsigned bytes"),
        (_idx(0x08, (3, 3), bytes(9)), "shape"),
        (_idx(0x08, (2, 3), bytes(5)), "data bytes"),
    ],
    ids=["int32-type", "wrong-shape", "truncated"],  # gzip's bytes carry the time: not an id
)
def test_idx_reader_rejects_bad_headers_and_truncation(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(content)
    with pytest.raises(DatasetInvalid, match=message):
        read_idx(path, (2, 3))
