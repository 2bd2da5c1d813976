"""A dataset in memory: train, validation and test splits of labelled uint8 images, and what a run
asks of a dataset's loader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.vocabulary import Fit
from vae_core.bundle import DatasetCard
from vae_core.preprocess import Preprocessing
from vae_core.vocabulary import LabelKind


@dataclass(frozen=True)
class LabeledImages:
    """One split: uint8 pixels [N, H, W] or [N, H, W, 3], already cropped and resized.

    `labels`: int64 [N] class indices (label_kind "class") or bool [N, K] ("attribute"; K = 0 for
    "none"). `pixels` may be a read-only memory map of a decoded-image cache.
    """

    pixels: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    label_kind: LabelKind

    def __len__(self) -> int:
        return len(self.pixels)

    def has_label(self) -> np.ndarray:
        """bool [N, K]: whether each image carries each label (one-hot for classes)."""
        if self.label_kind != "class":
            return self.labels.astype(bool)
        return self.labels[:, None] == np.arange(len(self.label_names))[None, :]

    def subset(self, index: np.ndarray | slice) -> LabeledImages:
        return LabeledImages(
            self.pixels[index], self.labels[index], self.label_names, self.label_kind
        )


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset's three splits and the `Preprocessing` that turns their pixels into model input;
    `card` describes a dataset read from a folder of images (None for the named datasets)."""

    name: str
    train: LabeledImages
    val: LabeledImages
    test: LabeledImages
    preprocessing: Preprocessing
    card: DatasetCard | None = None


@dataclass(frozen=True)
class LoadOptions:
    """What a run asks of a loader besides the folder and the image side. Fashion-MNIST and CelebA
    fix their own preprocessing and splits (CelebA uses `workers`); a folder of images honours all.
    """

    workers: int = 2  # decoding processes
    channels: int | None = None  # 1 or 3; None: 1 if every image is grayscale, else 3
    fit: Fit = "crop"
    skip_bad_images: bool = False  # leave undecodable images out instead of failing
    split_seed: int = 0  # seed of the 80/10/10 draw of splits that have no subfolder
    cache_dir: Path | None = None  # where decoded pixels are kept between runs; None: no cache
    min_train_images: int = 1  # fewer training images is an error: a run needs one full batch
