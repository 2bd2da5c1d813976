"""Image preprocessing, shared by training and serving.

The bundle records a `Preprocessing`; training applies it to the dataset and the service applies the
very same code to uploaded images, so a photo sent over HTTP reaches the encoder exactly as the
training images did.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field

from vae_core.vocabulary import ColorMode, Crop


class Preprocessing(BaseModel):
    """How a decoded image becomes the encoder's float input, in order of application."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    color_mode: ColorMode = Field(description="PIL mode: L (grayscale) or RGB.")
    crop: Crop = Field(
        default="none",
        description=(
            "center_square crops the largest centred square first; pad_square scales the image to "
            "fit inside resize and centres it on black, so nothing is cut off."
        ),
    )
    resize: tuple[int, int] = Field(description="(height, width) after cropping, before padding.")
    pad: int = Field(default=0, ge=0, description="Zero pixels added on every side after resizing.")
    scale: float = Field(default=1 / 255, gt=0, description="Multiplier from uint8 to [0, 1].")

    @property
    def channels(self) -> int:
        return 1 if self.color_mode == "L" else 3

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the encoder input."""
        height, width = self.resize
        return (self.channels, height + 2 * self.pad, width + 2 * self.pad)

    def to_pixels(self, image: Image.Image) -> np.ndarray:
        """Orient, convert, crop and resize a PIL image to uint8 pixels [H, W] or [H, W, 3]."""
        image = ImageOps.exif_transpose(image)
        if image.mode.startswith("I;16"):  # 16-bit grayscale: keep the high byte (convert clips)
            image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
        if image.mode in ("RGBA", "LA", "PA") or (
            image.mode == "P" and "transparency" in image.info
        ):
            image = _flatten_alpha(image)
        image = image.convert(self.color_mode)
        if self.crop == "center_square":
            side = min(image.size)
            image = ImageOps.fit(image, (side, side), method=Image.Resampling.BILINEAR)
        height, width = self.resize
        if self.crop == "pad_square":
            image = _letterboxed(image, width, height)
        if image.size != (width, height):
            image = _resized(image, (width, height))
        return np.asarray(image, dtype=np.uint8)

    def to_tensor(self, pixels: np.ndarray) -> np.ndarray:
        """Scale and pad uint8 pixels [N, H, W(, C)] to float32 [N, C, H', W'] in [0, 1], in one
        pass: the scaled pixels are written straight into the padded, channels-first output."""
        channels_first = pixels[:, None] if pixels.ndim == 3 else pixels.transpose(0, 3, 1, 2)
        count, channels, height, width = channels_first.shape
        p = self.pad
        out = (np.zeros if p else np.empty)(
            (count, channels, height + 2 * p, width + 2 * p), np.float32
        )
        inner = out[:, :, p : p + height, p : p + width]
        np.multiply(channels_first, np.float32(self.scale), out=inner, dtype=np.float32)
        return out

    def apply(self, images: list[Image.Image]) -> np.ndarray:
        """Decoded images of any size and mode -> the encoder's input batch [N, C, H, W]."""
        return self.to_tensor(np.stack([self.to_pixels(image) for image in images]))


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)


def _letterboxed(image: Image.Image, width: int, height: int) -> Image.Image:
    """The image scaled so that it fits inside width x height, centred on black.

    Scaling before padding means the canvas is never larger than the output, whatever the image's
    aspect ratio (a 25,000 x 1 upload would otherwise make a 25,000-pixel square)."""
    scale = min(width / image.width, height / image.height)
    inner = (
        min(width, max(1, round(image.width * scale))),
        min(height, max(1, round(image.height * scale))),
    )
    if inner != image.size:
        image = _resized(image, inner)
    if inner == (width, height):
        return image
    canvas = Image.new(image.mode, (width, height))  # zeros: black, as alpha is flattened onto
    canvas.paste(image, ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return canvas


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite a transparent image onto black, the background of the training images."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
