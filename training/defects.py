"""Synthetic defects on real test images, to measure which per-pixel quantity finds them: a bright
patch, a hole (a patch set to black) or a scratch (a one-pixel line), each at a random place, with
the mask of the pixels it changed."""

from __future__ import annotations

import numpy as np

MIN_SIDE, MAX_SIDE = 0.15, 0.3  # a patch's side, as a share of the image's


def add_defects(pixels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 pixels [N, H, W(, C)] -> (the same images with one defect each, bool masks [N, H, W]
    of the pixels the defect changed); the kinds take turns."""
    rng = np.random.default_rng(seed)
    damaged = pixels.copy()
    masks = np.zeros(pixels.shape[:3], dtype=bool)
    for i in range(len(pixels)):
        mask = (_patch, _patch, _scratch)[i % 3](pixels.shape[1:3], rng)
        value = rng.integers(128, 256, size=pixels.shape[3:]) if i % 3 != 1 else 0
        damaged[i][mask] = value
        masks[i] = mask & np.any((damaged[i] != pixels[i]).reshape(*mask.shape, -1), axis=-1)
    return damaged, masks


def _patch(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    height, width = shape
    side = int(rng.uniform(MIN_SIDE, MAX_SIDE) * min(height, width))
    top, left = rng.integers(0, height - side), rng.integers(0, width - side)
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def _scratch(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    height, width = shape
    rows = np.arange(height)
    columns = np.clip(np.rint(rows * rng.uniform(-1, 1) + rng.integers(0, width)), 0, width - 1)
    mask = np.zeros(shape, dtype=bool)
    mask[rows, columns.astype(int)] = True
    return mask
