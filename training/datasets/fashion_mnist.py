"""Fashion-MNIST: 70k 28x28 grayscale images of clothing in ten classes, padded to 32x32.

It is read from the standard IDX `.gz` files, looked for in this order: `--data-dir`,
`$FASHION_MNIST_DIR`, `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`), then a
checksummed download into `~/.cache/vae-serve/fashion-mnist`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from training.datasets.splits import DatasetSplits, LabeledImages
from training.errors import DatasetInvalid, DatasetNotFound
from vae_core.preprocess import Preprocessing

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# sha256 of the decompressed IDX files, so a re-compressed copy still verifies.
FASHION_FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_PREPROCESSING = Preprocessing(color_mode="L", resize=(28, 28), pad=2)
FASHION_IMAGE_SIZE = FASHION_PREPROCESSING.output_shape[1]  # the side the model sees: 28 + 2 + 2
VALIDATION_SIZE = 5000  # held out from the end of the training files


def load_fashion_mnist(data_dir: Path | None = None) -> DatasetSplits:
    """The 60k/10k Fashion-MNIST splits; the last 5k training images are the validation split."""
    directory = find_fashion_mnist(data_dir)
    train_x = read_idx(directory / "train-images-idx3-ubyte.gz", expect_shape=(60000, 28, 28))
    train_y = read_idx(directory / "train-labels-idx1-ubyte.gz", expect_shape=(60000,))
    test_x = read_idx(directory / "t10k-images-idx3-ubyte.gz", expect_shape=(10000, 28, 28))
    test_y = read_idx(directory / "t10k-labels-idx1-ubyte.gz", expect_shape=(10000,))
    for path, labels in (("train", train_y), ("t10k", test_y)):
        if labels.max() > 9:
            raise DatasetInvalid(
                f"{directory}: {path} labels must lie in 0..9, found {labels.max()}"
            )
    full = LabeledImages(train_x, train_y.astype(np.int64), FASHION_CLASSES, "class")
    cut = len(full) - VALIDATION_SIZE
    return DatasetSplits(
        name="fashion-mnist",
        train=full.subset(slice(0, cut)),
        val=full.subset(slice(cut, None)),
        test=LabeledImages(test_x, test_y.astype(np.int64), FASHION_CLASSES, "class"),
        preprocessing=FASHION_PREPROCESSING,
    )


def find_fashion_mnist(
    data_dir: Path | None = None, download: Callable[[Path], None] | None = None
) -> Path:
    """Return the first directory holding all four IDX files, downloading as a last resort."""
    candidates: list[tuple[str, Path]] = []
    if data_dir is not None:
        candidates.append(("--data-dir", Path(data_dir)))
    if os.environ.get("FASHION_MNIST_DIR"):
        candidates.append(("$FASHION_MNIST_DIR", Path(os.environ["FASHION_MNIST_DIR"])))
    candidates.append(("Debian dataset-fashion-mnist", FASHION_SYSTEM_DIR))
    for _, directory in candidates:
        if all((directory / f"{name}.gz").is_file() for name in FASHION_FILES):
            return directory
    cache = Path.home() / ".cache" / "vae-serve" / "fashion-mnist"
    try:
        (download or download_fashion_mnist)(cache)
        return cache
    except OSError as exc:
        searched = "\n".join(f"  - {d} ({why})" for why, d in candidates)
        raise DatasetNotFound(
            "Fashion-MNIST not found. Searched:\n"
            f"{searched}\n  - download from {FASHION_URL} into {cache}: {exc}\n"
            "Install Debian's dataset-fashion-mnist, or pass --data-dir DIR holding the four IDX\n"
            ".gz files."
        ) from None


def download_fashion_mnist(cache: Path, timeout: float = 30.0) -> None:
    """Fetch the four files into `cache`, verifying each against its sha256 before keeping it."""
    cache.mkdir(parents=True, exist_ok=True)
    for name, sha256 in FASHION_FILES.items():
        target = cache / f"{name}.gz"
        if target.is_file() and _gz_sha256(target) == sha256:
            continue
        tmp = target.with_suffix(".part")
        with urllib.request.urlopen(f"{FASHION_URL}{name}.gz", timeout=timeout) as r:
            tmp.write_bytes(r.read())
        if _gz_sha256(tmp) != sha256:
            tmp.unlink()
            raise OSError(f"{name}.gz failed its sha256 check")
        tmp.replace(target)


def _gz_sha256(path: Path) -> str:
    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def read_idx(path: Path, expect_shape: tuple[int, ...]) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes, validating magic number, dims and length."""
    raw = gzip.decompress(path.read_bytes())
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DatasetInvalid(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    if dims != expect_shape:
        raise DatasetInvalid(f"{path}: shape {dims}, expected {expect_shape}")
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise DatasetInvalid(f"{path}: {len(body)} data bytes, expected {int(np.prod(dims))}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)
