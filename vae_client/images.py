"""Images in and out. In: a path, the bytes of an image file, a PIL image or a uint8 numpy array
([H, W] grayscale, [H, W, 3] RGB, [H, W, 4] RGBA). Out: uint8 numpy arrays, [N, H, W] for a
grayscale model and [N, H, W, 3] for an RGB one, decoded from the service's PNGs."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
from PIL import Image

ImageInput: TypeAlias = str | os.PathLike[str] | bytes | Image.Image | np.ndarray
"""One image: a file path, an image file's bytes, a PIL image, or a uint8 array."""
ImagesInput: TypeAlias = ImageInput | Sequence[ImageInput]
"""One image, or a sequence of them; a uint8 array [N, H, W(, C)] is N images."""
COLOR_CHANNELS = (3, 4)


def image_list(images: ImagesInput) -> list[ImageInput]:
    """One image or many -> a list of single images."""
    if isinstance(images, np.ndarray):
        return list(images) if _is_batch(images) else [images]
    if isinstance(images, str | bytes | os.PathLike | Image.Image):
        return [images]
    return list(images)


def _is_batch(array: np.ndarray) -> bool:
    """[N, H, W, C] or [N, H, W]; but [H, W, 3] and [H, W, 4] are one colour image."""
    return array.ndim == 4 or (array.ndim == 3 and array.shape[-1] not in COLOR_CHANNELS)


def encoded(image: ImageInput) -> bytes:
    """The bytes of an image file for one image (a PNG unless it already is a file)."""
    if isinstance(image, bytes):
        return image
    if isinstance(image, str | os.PathLike):
        with open(image, "rb") as file:
            return file.read()
    if isinstance(image, np.ndarray):
        image = _from_array(image)
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise TypeError(f"not an image: {type(image).__name__} (a path, bytes, PIL image or array)")


def _from_array(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        raise TypeError(
            f"an image array must be uint8, got {array.dtype} (float arrays are latent codes)"
        )
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in COLOR_CHANNELS):
        return Image.fromarray(array)
    raise ValueError(f"an image array is [H, W], [H, W, 3] or [H, W, 4]; got {list(array.shape)}")


def base64_images(images: ImagesInput) -> list[str]:
    """Images as the base64 strings of the JSON API."""
    return [base64.b64encode(encoded(image)).decode("ascii") for image in image_list(images)]


def decoded(data: bytes) -> np.ndarray:
    """One PNG or GIF frame -> uint8 [H, W] or [H, W, 3]."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L" if image.mode in ("L", "1") else "RGB"))


def from_base64(images: Sequence[str]) -> np.ndarray:
    """The service's base64 PNGs -> uint8 [N, H, W] or [N, H, W, 3]."""
    return np.stack([decoded(base64.b64decode(text)) for text in images])


def save(images: np.ndarray, path: str | os.PathLike[str], columns: int | None = None) -> None:
    """Write uint8 images [N, H, W(, 3)] to one file: the image itself when N is 1, else a grid
    (`columns` wide, or as square as it gets)."""
    Image.fromarray(grid(images, columns)).save(path)


def grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Images [N, H, W(, C)] tiled row by row into one image, `columns` wide."""
    count = len(images)
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    padded = np.zeros((rows * columns, *images.shape[1:]), images.dtype)
    padded[:count] = images
    tiles = padded.reshape(rows, columns, *images.shape[1:])
    return np.concatenate([np.concatenate(list(row), axis=1) for row in tiles], axis=0)
