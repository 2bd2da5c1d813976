"""A dataset in memory: train, validation and test splits of labelled uint8 images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae_core.preprocess import Preprocessing
from vae_core.vocabulary import LabelKind


@dataclass(frozen=True)
class LabeledImages:
    """One split: uint8 pixels [N, H, W] or [N, H, W, 3], already cropped and resized.

    `labels`: int64 [N] class indices (label_kind "class") or bool [N, K] ("attribute").
    """

    pixels: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    label_kind: LabelKind

    def __len__(self) -> int:
        return len(self.pixels)

    def has_label(self) -> np.ndarray:
        """bool [N, K]: whether each image carries each label (one-hot for classes)."""
        if self.label_kind == "attribute":
            return self.labels.astype(bool)
        return self.labels[:, None] == np.arange(len(self.label_names))[None, :]

    def subset(self, index: np.ndarray | slice) -> LabeledImages:
        return LabeledImages(
            self.pixels[index], self.labels[index], self.label_names, self.label_kind
        )


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset's three splits and the `Preprocessing` that turns their pixels into model input."""

    name: str
    train: LabeledImages
    val: LabeledImages
    test: LabeledImages
    preprocessing: Preprocessing
