"""Image bytes in and out: decode untrusted uploads safely, encode model output as PNG, a PNG strip
or an animated GIF. Deterministic: the same pixels always give the same bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from service.errors import PayloadTooLarge, UnsupportedImage
from service.preprocess import Preprocessing

# Decoders we accept: the common web formats, nothing exotic (smaller attack surface).
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
PNG_COMPRESS_LEVEL = 6


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Untrusted bytes -> a fully decoded PIL image; 413 over `max_pixels`, 415 if not an image.

    The pixel count comes from the header, checked before any pixel is decoded.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:  # Pillow's own, far higher, limit
        raise PayloadTooLarge(
            f"image over {max_pixels} pixels (VAE_SERVE_MAX_IMAGE_PIXELS)"
        ) from None
    except Exception:  # Pillow raises many types on hostile input; all mean "not an image".
        raise UnsupportedImage(
            f"not a decodable image; accepted formats: {', '.join(ACCEPTED_FORMATS)}"
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"image is {width}x{height} = {width * height} pixels, over {max_pixels} "
            "(VAE_SERVE_MAX_IMAGE_PIXELS)"
        )
    try:
        image.load()
    except Exception:
        raise UnsupportedImage(f"the {image.format} image is truncated or corrupt") from None
    return image


def to_model_input(
    images: Sequence[bytes], preprocessing: Preprocessing, max_pixels: int
) -> np.ndarray:
    """Encoded images of any size and mode -> the encoder's float32 batch [N, C, H, W].

    Each image is decoded and reduced to model size before the next, so memory holds one
    full-size image at a time.
    """
    pixels = [_model_pixels(data, preprocessing, max_pixels) for data in images]
    return preprocessing.to_tensor(np.stack(pixels))


def _model_pixels(data: bytes, preprocessing: Preprocessing, max_pixels: int) -> np.ndarray:
    image = decode_image(data, max_pixels)
    try:
        return preprocessing.to_pixels(image)
    except Exception:  # e.g. a mode Pillow cannot convert, or broken EXIF orientation
        raise UnsupportedImage(
            f"cannot convert a {image.mode} {image.format} image to {preprocessing.color_mode}"
        ) from None


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model output [N, C, H, W] in [0, 1] -> uint8 [N, H, W] (grayscale) or [N, H, W, 3]."""
    scaled = np.nan_to_num(images, nan=0.0, posinf=1.0, neginf=0.0) * 255.0 + 0.5
    pixels = np.clip(scaled, 0, 255).astype(np.uint8)
    return pixels[:, 0] if pixels.shape[1] == 1 else pixels.transpose(0, 2, 3, 1)


def png(pixels: np.ndarray) -> bytes:
    """One uint8 image [H, W] or [H, W, 3] -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def pngs(images: np.ndarray) -> list[bytes]:
    """Model output [N, C, H, W] -> one PNG per image."""
    return [png(pixels) for pixels in to_uint8(images)]


def strip(images: np.ndarray) -> bytes:
    """Model output [N, C, H, W] -> one PNG with the images side by side, left to right."""
    return png(np.concatenate(list(to_uint8(images)), axis=1))


def gif(images: np.ndarray, frame_ms: int) -> bytes:
    """Model output [N, C, H, W] -> an animated GIF that loops forever."""
    frames = [Image.fromarray(pixels) for pixels in to_uint8(images)]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
    )
    return buffer.getvalue()
