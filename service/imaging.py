"""Image bytes in and out: decode untrusted uploads safely, encode model output as PNG, a PNG strip
or an animated GIF. Deterministic: the same pixels always give the same bytes."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.errors import PayloadTooLarge, UnsupportedImage
from vae_core.preprocess import Preprocessing

# Decoders we accept: the common web formats, nothing exotic (smaller attack surface).
ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
# zlib level 1: 2.5x (32x32 gray) to 4.5x (64x64 RGB) faster to encode than the default 6,
# for 7-18% more bytes (measured in bench/results; see README).
PNG_COMPRESS_LEVEL = 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_FILTER_UP = 2
# Modes whose pixels Image.reduce may average (palette indices may not be averaged).
REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr")
# A huge upload is box-reduced to at least this many times the model's input size before it is
# preprocessed: the reduction's edge rounding then shifts it by under 1/16 of a model pixel.
SHRINK_TO = 16


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Untrusted bytes -> a PIL image with only its header read; 413 over `max_pixels` (counted
    from the header, before any pixel is decoded), 415 if not an image."""
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
    return image


@dataclass(frozen=True)
class ImageLimits:
    """Decoded pixels allowed per image (decompression bombs) and per request (CPU per call)."""

    max_pixels: int
    max_request_pixels: int


def to_model_input(
    images: Sequence[bytes], preprocessing: Preprocessing, limits: ImageLimits
) -> np.ndarray:
    """Encoded images of any size and mode -> the encoder's float32 batch [N, C, H, W].

    Every header is checked before any image is decoded, so one bomb, non-image or a request over
    its pixel budget is refused before work is spent on the others. Then each image is decoded and
    reduced to model size into one uint8 batch, and its full-size pixels freed, before the next:
    memory holds one at a time. The batch becomes the model's input in one pass (to_tensor).
    """
    opened = [open_image(data, limits.max_pixels) for data in images]
    total = sum(image.width * image.height for image in opened)
    if total > limits.max_request_pixels:
        raise PayloadTooLarge(
            f"the request's images hold {total} pixels in all, over {limits.max_request_pixels} "
            "(VAE_SERVE_MAX_REQUEST_PIXELS)",
            {"pixels": total, "limit": limits.max_request_pixels},
        )
    height, width = preprocessing.resize
    shape = (height, width) if preprocessing.channels == 1 else (height, width, 3)
    pixels = np.empty((len(opened), *shape), np.uint8)  # the batch, filled image by image
    for i, image in enumerate(opened):
        pixels[i] = _model_pixels(image, preprocessing)
    return preprocessing.to_tensor(pixels)


def _model_pixels(image: Image.Image, preprocessing: Preprocessing) -> np.ndarray:
    with closing(image):  # frees the full-size pixels before the next image
        _load(image)
        _drop_broken_exif(image)
        try:
            return preprocessing.to_pixels(_shrunk(image, preprocessing))
        except Exception:  # e.g. a mode Pillow cannot convert
            raise UnsupportedImage(
                f"cannot convert a {image.mode} {image.format} image to {preprocessing.color_mode}"
            ) from None


def _load(image: Image.Image) -> None:
    """Decode the pixels (the first frame of an animation); 415 if truncated or corrupt."""
    try:
        image.load()
    except Exception:
        raise UnsupportedImage(f"the {image.format} image is truncated or corrupt") from None


def _drop_broken_exif(image: Image.Image) -> None:
    """Forget an EXIF block Pillow cannot parse, which would fail the orientation step: without a
    readable orientation, the image is taken as upright."""
    try:
        image.getexif()
    except Exception:  # Pillow raises several types on a corrupt block
        image.info.pop("exif", None)


def _shrunk(image: Image.Image, preprocessing: Preprocessing) -> Image.Image:
    """An upload over twice SHRINK_TO times the model's input size, box-reduced by an integer
    factor first, so that orientation, mode conversion and alpha flattening never copy it at full
    size: a 5000x5000 RGBA PNG of ~100 KiB then peaks at ~200 MB instead of ~580 MB. The pixels
    are on average within a gray level of full-size preprocessing (whose resize reduces the same
    way); smaller images, every training image among them, pass untouched: preprocessed exactly.
    """
    height, width = preprocessing.resize
    factor = min(image.width // (width * SHRINK_TO), image.height // (height * SHRINK_TO))
    if factor < 2:
        return image
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")  # colours, with any transparency, instead of indices
    return image.reduce(factor) if image.mode in REDUCIBLE_MODES else image


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model output [N, C, H, W] in [0, 1] -> uint8 [N, H, W] (grayscale) or [N, H, W, 3].

    One scaled copy, clipped in place; NaN and infinities (not expected: latents are bounded) are
    mapped only when present, since the check is far cheaper than mapping every time."""
    scaled = images * np.float32(255.0) + np.float32(0.5)
    if not np.isfinite(scaled).all():
        scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    np.clip(scaled, 0, 255, out=scaled)
    pixels = scaled.astype(np.uint8)
    return pixels[:, 0] if pixels.shape[1] == 1 else pixels.transpose(0, 2, 3, 1)


def png(pixels: np.ndarray) -> bytes:
    """One uint8 image [H, W] or [H, W, 3] -> PNG bytes."""
    return encode_pngs(pixels[None])[0]


def pngs(images: np.ndarray) -> list[bytes]:
    """Model output [N, C, H, W] -> one PNG per image."""
    return encode_pngs(to_uint8(images))


def encode_pngs(pixels: np.ndarray) -> list[bytes]:
    """uint8 images [N, H, W] (gray) or [N, H, W, 3] (RGB) -> one PNG each, written directly:
    every row "Up"-filtered (minus the row above, mod 256) for the whole batch in one numpy
    operation, then one zlib call per image (which runs without the GIL). 4-5x faster than
    Pillow's writer at the same zlib level, for ~10% more bytes than its adaptive filters."""
    count, height, width = pixels.shape[:3]
    channels = 1 if pixels.ndim == 3 else pixels.shape[3]
    rows = np.ascontiguousarray(pixels).reshape(count, height, width * channels)
    filtered = np.empty((count, height, 1 + width * channels), np.uint8)
    filtered[:, :, 0] = PNG_FILTER_UP
    filtered[:, 0, 1:] = rows[:, 0]
    np.subtract(rows[:, 1:], rows[:, :-1], out=filtered[:, 1:, 1:])
    color_type = {1: 0, 3: 2}[channels]  # grayscale, truecolour
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    head = PNG_SIGNATURE + _chunk(b"IHDR", header)
    end = _chunk(b"IEND", b"")
    return [
        head + _chunk(b"IDAT", zlib.compress(image.tobytes(), PNG_COMPRESS_LEVEL)) + end
        for image in filtered
    ]


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


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
