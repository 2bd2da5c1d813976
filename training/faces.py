"""Cartoon faces drawn with PIL and written as a CelebA-format dataset (a stand-in for CelebA).

Each face shows nine CelebA attributes, each drawn or not independently, so its labels are true by
construction: Smiling, Mouth_Slightly_Open, Eyeglasses, Wearing_Hat, Bangs, Male (with a mustache,
a goatee or a full beard, which also set Mustache, Goatee and No_Beard), Pale_Skin and one hair
colour of Blond, Black, Brown and Gray. Every other CelebA column is -1. Position, size, tilt, skin
tone within its range, hair style, the styles of hat and glasses and every other colour vary at
random, so a model has to learn the attributes rather than the pixels that carry them.

Images are 178x218 like CelebA's aligned faces, and everything is drawn inside the 178x178 centre
square that `Preprocessing(crop="center_square")` keeps. Face `index` of a run depends only on
`(seed, index)`, so any number of worker processes writes byte-identical files.
"""

from __future__ import annotations

import colorsys
import io
import math
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from training.datasets.celeba import (
    CELEBA_ATTRIBUTES,
    CELEBA_LAYOUTS,
    IMAGE_ZIP,
    CelebaLayoutName,
    write_attributes,
    write_partition,
)
from training.errors import ConfigError
from training.parallel import map_in_order

RGB = tuple[int, int, int]
HairColor = Literal["blond", "black", "brown", "gray"]
FacialHair = Literal["none", "mustache", "goatee", "beard"]
HairStyle = Literal["short", "bob", "long", "curly"]
HatStyle = Literal["beanie", "cap", "fedora"]
GlassesStyle = Literal["round", "square", "sunglasses"]

HAIR_COLORS: tuple[HairColor, ...] = ("blond", "black", "brown", "gray")
BEARDS: tuple[FacialHair, ...] = ("mustache", "goatee", "beard")
HAIR_STYLES: tuple[HairStyle, ...] = ("short", "bob", "long", "curly")
HAT_STYLES: tuple[HatStyle, ...] = ("beanie", "cap", "fedora")
GLASSES_STYLES: tuple[GlassesStyle, ...] = ("round", "square", "sunglasses")
# Outside the ranges of hair, brows, beards, lips and pupils: this colour marks the glasses alone.
GLASSES_COLORS: tuple[RGB, ...] = ((8, 8, 8), (20, 28, 92), (66, 34, 14), (96, 12, 26))
# (lightest, darkest) of each range; Pale_Skin's range is clearly paler than the other.
PALE_SKIN: tuple[RGB, RGB] = ((252, 236, 226), (238, 214, 198))
OTHER_SKIN: tuple[RGB, RGB] = ((212, 160, 118), (88, 56, 36))
HAIR_RANGES: dict[HairColor, tuple[RGB, RGB]] = {
    "blond": ((242, 214, 132), (204, 164, 78)),
    "black": ((38, 32, 30), (16, 13, 12)),
    "brown": ((132, 86, 50), (86, 52, 26)),
    "gray": ((206, 206, 206), (140, 140, 146)),
}
EYE_COLORS: tuple[RGB, ...] = ((70, 110, 170), (100, 62, 30), (70, 120, 72), (45, 34, 28))
MOUTH_INSIDE: RGB = (70, 18, 24)
TEETH: RGB = (246, 246, 240)
CHEEK: RGB = (236, 84, 110)
WHITE: RGB = (250, 250, 250)
PUPIL: RGB = (24, 18, 18)

WIDTH, HEIGHT = 178, 218  # CelebA's aligned images
TOP, BOTTOM = 32, 186  # drawing limits: the centre square spans rows 20..198, less tilt margin
SPLIT_FRACTIONS = (0.8, 0.1)  # train, val; test takes the rest
RENDER_CHUNK = 64  # faces per worker task
JPEG_QUALITY = 95
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same run writes the same archive bytes


# ---------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FaceAttributes:
    """What a face shows; `facial_hair` is "none" exactly when the face is not male."""

    smiling: bool
    mouth_open: bool
    eyeglasses: bool
    wearing_hat: bool
    bangs: bool
    male: bool
    pale_skin: bool
    hair_color: HairColor
    facial_hair: FacialHair

    def __post_init__(self) -> None:
        if self.male != (self.facial_hair != "none"):
            raise ValueError(
                f"male faces wear {BEARDS} and others none; got male={self.male} "
                f"with facial_hair={self.facial_hair!r}"
            )

    def celeba_flags(self) -> dict[str, bool]:
        """The CelebA columns these faces draw, with their values; the others are always False."""
        return {
            "Smiling": self.smiling,
            "Mouth_Slightly_Open": self.mouth_open,
            "Eyeglasses": self.eyeglasses,
            "Wearing_Hat": self.wearing_hat,
            "Bangs": self.bangs,
            "Male": self.male,
            "Pale_Skin": self.pale_skin,
            "Blond_Hair": self.hair_color == "blond",
            "Black_Hair": self.hair_color == "black",
            "Brown_Hair": self.hair_color == "brown",
            "Gray_Hair": self.hair_color == "gray",
            "Mustache": self.facial_hair in ("mustache", "beard"),
            "Goatee": self.facial_hair == "goatee",
            "No_Beard": self.facial_hair in ("none", "mustache"),
        }

    def celeba_row(self) -> np.ndarray:
        """int8 [40] of -1/1 in CELEBA_ATTRIBUTES order."""
        flags = self.celeba_flags()
        return np.array([1 if flags.get(name) else -1 for name in CELEBA_ATTRIBUTES], np.int8)


@dataclass(frozen=True)
class FaceStyle:
    """How a face is drawn, apart from its attributes. Lengths are pixels of the 178x218 image.

    `half_width` and `half_height` are the radii of the face's ellipse around (center_x,
    center_y); `rotation` is a tilt in degrees; the shades place the skin and hair colours within
    the range their attribute picks (0 lightest, 1 darkest).
    """

    center_x: float
    center_y: float
    half_width: float
    half_height: float
    rotation: float
    skin_shade: float
    hair_shade: float
    hair_style: HairStyle
    hat_style: HatStyle
    glasses_style: GlassesStyle
    eye: RGB
    lip: RGB
    hat: RGB
    glasses: RGB
    shirt: RGB
    background_top: RGB
    background_bottom: RGB

    @property
    def eye_y(self) -> float:
        return self.center_y - 0.1 * self.half_width

    @property
    def chin_y(self) -> float:
        return self.center_y + self.half_height

    @property
    def hair_top(self) -> float:
        return self.center_y - self.half_height - 0.22 * self.half_width

    @property
    def mouth_y(self) -> float:
        return self.center_y + 0.5 * self.half_height

    @property
    def brim_y(self) -> float:
        """Lower edge of a hat's crown: above the eyebrows, so a hat never hides the eyes."""
        return self.center_y - 0.72 * self.half_width

    @property
    def hat_top(self) -> float:
        return self.center_y - self.half_height - 0.42 * self.half_width


@dataclass(frozen=True)
class Face:
    attributes: FaceAttributes
    style: FaceStyle


def sample_face(seed: int, index: int) -> Face:
    """Face `index` of the run `seed`: a function of these two numbers only."""
    rng = np.random.default_rng([seed, index])
    return Face(_sample_attributes(rng), _sample_style(rng))


def _sample_attributes(rng: np.random.Generator) -> FaceAttributes:
    smiling, mouth_open, eyeglasses, hat, bangs, male, pale = (rng.random(7) < 0.5).tolist()
    return FaceAttributes(
        smiling=smiling,
        mouth_open=mouth_open,
        eyeglasses=eyeglasses,
        wearing_hat=hat,
        bangs=bangs,
        male=male,
        pale_skin=pale,
        hair_color=HAIR_COLORS[rng.integers(len(HAIR_COLORS))],
        facial_hair=BEARDS[rng.integers(len(BEARDS))] if male else "none",
    )


def _sample_style(rng: np.random.Generator) -> FaceStyle:
    half_width = rng.uniform(36, 46)
    half_height = half_width * rng.uniform(1.15, 1.28)
    # The hat's top and the beard's lowest point both stay inside TOP..BOTTOM.
    lowest = TOP + half_height + 0.42 * half_width
    highest = BOTTOM - half_height - 0.15 * half_width
    return FaceStyle(
        center_x=WIDTH / 2 + rng.uniform(-12, 12),
        center_y=rng.uniform(lowest, highest),
        half_width=half_width,
        half_height=half_height,
        rotation=rng.uniform(-8, 8),
        skin_shade=rng.random(),
        hair_shade=rng.random(),
        hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        hat_style=HAT_STYLES[rng.integers(len(HAT_STYLES))],
        glasses_style=GLASSES_STYLES[rng.integers(len(GLASSES_STYLES))],
        eye=EYE_COLORS[rng.integers(len(EYE_COLORS))],
        lip=_hsv(rng, hue=(0.95, 1.02), saturation=(0.6, 0.8), value=(0.3, 0.45)),
        hat=_hsv(rng, hue=(0.0, 1.0), saturation=(0.7, 1.0), value=(0.55, 0.95)),
        glasses=GLASSES_COLORS[rng.integers(len(GLASSES_COLORS))],
        shirt=_hsv(rng, hue=(0.0, 1.0), saturation=(0.2, 0.8), value=(0.3, 0.9)),
        background_top=_hsv(rng, hue=(0.0, 1.0), saturation=(0.0, 0.3), value=(0.35, 0.95)),
        background_bottom=_hsv(rng, hue=(0.0, 1.0), saturation=(0.0, 0.3), value=(0.35, 0.95)),
    )


def _hsv(
    rng: np.random.Generator,
    hue: tuple[float, float],
    saturation: tuple[float, float],
    value: tuple[float, float],
) -> RGB:
    """A random colour, uniform in the given HSV box (hue wraps around 1)."""
    h, s, v = rng.uniform(*hue) % 1.0, rng.uniform(*saturation), rng.uniform(*value)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def _mix(light: RGB, dark: RGB, t: float) -> RGB:
    r, g, b = (round(x + (y - x) * t) for x, y in zip(light, dark, strict=True))
    return (r, g, b)


def _darker(color: RGB, factor: float) -> RGB:
    return _mix(color, (0, 0, 0), 1.0 - factor)


def skin_color(face: Face) -> RGB:
    pale_range = PALE_SKIN if face.attributes.pale_skin else OTHER_SKIN
    return _mix(*pale_range, face.style.skin_shade)


def hair_color(face: Face) -> RGB:
    return _mix(*HAIR_RANGES[face.attributes.hair_color], face.style.hair_shade)


# ---------------------------------------------------------------------------------- drawing

Box = tuple[float, float, float, float]  # PIL's (left, top, right, bottom)


def draw_face(face: Face) -> Image.Image:
    """The face as a 178x218 RGB image. Deterministic: no randomness beyond `face` itself."""
    layer = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    # Back to front: each part may cover the ones before it. The attributes come last, so that
    # nothing else hides them.
    parts = [_draw_hair_back, _draw_body, _draw_head, _draw_front_hair, _draw_facial_hair]
    parts += [_draw_eyes, _draw_mouth]
    parts += [_draw_glasses] if face.attributes.eyeglasses else []
    parts += [_draw_hat] if face.attributes.wearing_hat else []
    for part in parts:
        part(draw, face)
    style = face.style
    if style.rotation:
        center = (style.center_x, style.center_y)
        layer = layer.rotate(style.rotation, Image.Resampling.BILINEAR, center=center)
    image = _background(style.background_top, style.background_bottom)
    image.alpha_composite(layer)
    return image.convert("RGB")


def _background(top: RGB, bottom: RGB) -> Image.Image:
    """A vertical gradient from `top` to `bottom`."""
    t = np.linspace(0.0, 1.0, HEIGHT)[:, None, None]
    rows = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    pixels = np.broadcast_to(np.round(rows), (HEIGHT, WIDTH, 3)).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").convert("RGBA")


def _around(x: float, y: float, rx: float, ry: float) -> Box:
    """The box of the ellipse with centre (x, y) and radii rx, ry."""
    return (x - rx, y - ry, x + rx, y + ry)


def _chord_above(draw: ImageDraw.ImageDraw, box: Box, cut_y: float, fill: RGB) -> None:
    """Fill the part of the ellipse in `box` that lies above the horizontal line y = cut_y."""
    center, radius = (box[1] + box[3]) / 2, (box[3] - box[1]) / 2
    angle = math.degrees(math.asin(max(-1.0, min(1.0, (cut_y - center) / radius))))
    draw.chord(box, 180 - angle, 360 + angle, fill=fill)


def _draw_hair_back(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """The hair behind the head; its outline is the hair style."""
    s, hair = face.style, hair_color(face)
    a, x, top = s.half_width, s.center_x, s.hair_top
    if s.hair_style == "short":
        box = (x - 1.22 * a, top, x + 1.22 * a, s.chin_y)
        _chord_above(draw, box, s.eye_y + 0.15 * a, hair)  # below a hat's brim at the temples
    elif s.hair_style == "bob":
        draw.rounded_rectangle((x - 1.28 * a, top, x + 1.28 * a, s.mouth_y), 0.9 * a, fill=hair)
    elif s.hair_style == "long":
        draw.rounded_rectangle((x - 1.32 * a, top, x + 1.32 * a, s.chin_y + 1.3 * a), a, fill=hair)
    else:  # curly: a ring of curls round the top and sides of the head
        for degrees in range(150, 400, 20):
            curl_x = x + 1.02 * a * math.cos(math.radians(degrees))
            curl_y = s.eye_y + 1.05 * s.half_height * math.sin(math.radians(degrees))
            draw.ellipse(_around(curl_x, curl_y, 0.32 * a, 0.32 * a), fill=hair)


def _draw_body(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Shoulders in a shirt, then the neck."""
    s, a, x = face.style, face.style.half_width, face.style.center_x
    draw.ellipse(_around(x, s.chin_y + 1.5 * a, 1.9 * a, 1.1 * a), fill=s.shirt)
    neck = (x - 0.38 * a, s.mouth_y, x + 0.38 * a, s.chin_y + 0.6 * a)
    draw.rectangle(neck, fill=_darker(skin_color(face), 0.85))


def _draw_head(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Ears, the face's ellipse, eyebrows and nose."""
    s, skin, a, x = face.style, skin_color(face), face.style.half_width, face.style.center_x
    for side in (-1, 1):
        ear = _around(x + side * 0.97 * a, s.eye_y + 0.12 * a, 0.14 * a, 0.24 * a)
        draw.ellipse(ear, fill=_darker(skin, 0.9))
    draw.ellipse(_around(x, s.center_y, a, s.half_height), fill=skin)
    brow, brow_y = _darker(hair_color(face), 0.7), s.eye_y - 0.28 * a
    for side in (-1, 1):
        ex = x + side * 0.4 * a
        points = [(ex - 0.19 * a, brow_y + 0.04 * a), (ex, brow_y - 0.03 * a)]
        draw.line([*points, (ex + 0.19 * a, brow_y + 0.04 * a)], fill=brow, width=round(0.09 * a))
    nose_y = (s.eye_y + s.mouth_y) / 2 + 0.08 * a
    nose = [(x + 0.02 * a, s.eye_y + 0.12 * a), (x - 0.1 * a, nose_y), (x + 0.07 * a, nose_y)]
    draw.line(nose, fill=_darker(skin, 0.72), width=max(2, round(0.06 * a)), joint="curve")


def _draw_front_hair(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """A fringe down to just above the eyebrows (Bangs), else only a thin hairline."""
    s, hair, a, x = face.style, hair_color(face), face.style.half_width, face.style.center_x
    box = (x - 1.04 * a, s.center_y - s.half_height - 0.14 * a, x + 1.04 * a, s.chin_y)
    if not face.attributes.bangs:
        _chord_above(draw, box, s.center_y - s.half_height + 0.2 * a, hair)
        return
    cut_y, teeth = s.center_y - 0.44 * a, 7
    _chord_above(draw, box, cut_y, hair)
    for i in range(teeth):  # a jagged lower edge, so that a fringe does not read as a hat
        left, right = x - 0.8 * a + i * 1.6 * a / teeth, x - 0.8 * a + (i + 1) * 1.6 * a / teeth
        tip = ((left + right) / 2, cut_y + 0.1 * a)
        draw.polygon([(left, cut_y - 1), tip, (right, cut_y - 1)], fill=hair)


def _draw_facial_hair(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Male faces: a full beard (with a mustache), a goatee or a mustache alone."""
    kind, s = face.attributes.facial_hair, face.style
    beard, a, x, y = _darker(hair_color(face), 0.8), s.half_width, s.center_x, s.mouth_y
    if kind == "beard":
        jaw = (x - 1.03 * a, s.center_y - 1.03 * s.half_height, x + 1.03 * a, s.chin_y + 0.12 * a)
        draw.chord(jaw, 8, 172, fill=beard)
        # Bare skin round the mouth, so that the mouth reads the same on any beard colour.
        draw.ellipse(_around(x, y + 0.05 * a, 0.5 * a, 0.25 * a), fill=skin_color(face))
    if kind == "goatee":
        draw.ellipse((x - 0.24 * a, y + 0.16 * a, x + 0.24 * a, s.chin_y + 0.05 * a), fill=beard)
    if kind in ("mustache", "beard"):
        draw.chord(_around(x, y - 0.18 * a, 0.42 * a, 0.16 * a), 180, 360, fill=beard)
        draw.rectangle((x - 0.42 * a, y - 0.2 * a, x + 0.42 * a, y - 0.1 * a), fill=beard)


def _draw_eyes(draw: ImageDraw.ImageDraw, face: Face) -> None:
    s, a, y = face.style, face.style.half_width, face.style.eye_y
    for side in (-1, 1):
        ex = s.center_x + side * 0.4 * a
        draw.ellipse(_around(ex, y, 0.17 * a, 0.11 * a), fill=WHITE)
        draw.ellipse(_around(ex, y, 0.09 * a, 0.09 * a), fill=s.eye)
        draw.ellipse(_around(ex, y, 0.04 * a, 0.04 * a), fill=PUPIL)


def _draw_mouth(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Smiling is a wide grin that shows teeth (a dark open D when the mouth is open too), with a
    thick dark lip line, under flushed pink cheeks; a neutral mouth is a short flat line, or a
    small O when open. The smile is big and high-contrast on purpose: at 64x64 a thin curve is a
    pixel or two, and white teeth on pale skin are barely there, both of which a VAE blurs away.
    Blurred to 64x64, this smile changes a face about 0.6 as much as glasses do; a thin grin with
    pale teeth changed it 0.2 as much, and the VAE lost it."""
    s, a, x, y = face.style, face.style.half_width, face.style.center_x, face.style.mouth_y
    width = max(3, round(0.13 * a))
    if face.attributes.smiling:
        for side in (-1, 1):
            draw.ellipse(_around(x + side * 0.54 * a, s.center_y + 0.32 * a, 0.24 * a, 0.19 * a),
                         fill=CHEEK)  # fmt: skip
        box = _around(x, y - 0.06 * a, 0.52 * a, 0.4 * a)
        if face.attributes.mouth_open:
            draw.chord(box, 0, 180, fill=MOUTH_INSIDE)
            draw.rectangle((x - 0.4 * a, y - 0.06 * a, x + 0.4 * a, y + 0.06 * a), fill=TEETH)
        else:
            draw.chord(box, 0, 180, fill=TEETH)
        draw.chord(box, 0, 180, outline=s.lip, width=max(4, width))
    elif face.attributes.mouth_open:
        box = _around(x, y + 0.02 * a, 0.2 * a, 0.14 * a)
        draw.ellipse(box, fill=MOUTH_INSIDE, outline=s.lip, width=max(2, width // 2))
    else:
        draw.line((x - 0.28 * a, y, x + 0.28 * a, y), fill=s.lip, width=width)


def _draw_glasses(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Two thick rims round the eyes (filled for sunglasses), a bridge and the temples."""
    s, a, y, color = face.style, face.style.half_width, face.style.eye_y, face.style.glasses
    width, x, rim_y = max(4, round(0.13 * a)), s.center_x, y - 0.04 * a
    lens = color if s.glasses_style == "sunglasses" else None
    for side in (-1, 1):
        ex = x + side * 0.4 * a
        box = _around(ex, y, 0.3 * a, 0.23 * a)
        if s.glasses_style == "square":
            draw.rounded_rectangle(box, 0.1 * a, fill=lens, outline=color, width=width)
        else:
            draw.ellipse(box, fill=lens, outline=color, width=width)
        temple = [(ex + side * 0.3 * a, rim_y), (x + side * 0.98 * a, rim_y - 0.04 * a)]
        draw.line(temple, fill=color, width=width)
    draw.line((x - 0.1 * a, rim_y, x + 0.1 * a, rim_y), fill=color, width=width)


def _draw_hat(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """A beanie, a cap or a fedora in a saturated colour, from above the hair to the brim."""
    s = face.style
    a, x, top, brim, shade = s.half_width, s.center_x, s.hat_top, s.brim_y, _darker(s.hat, 0.72)
    if s.hat_style == "fedora":
        draw.rounded_rectangle((x - 0.82 * a, top, x + 0.82 * a, brim), 0.2 * a, fill=s.hat)
        draw.rectangle((x - 0.82 * a, brim - 0.24 * a, x + 0.82 * a, brim - 0.06 * a), fill=shade)
        draw.ellipse(_around(x, brim, 1.45 * a, 0.13 * a), fill=s.hat)
        return
    _chord_above(draw, (x - 1.14 * a, top + 0.1 * a, x + 1.14 * a, 2 * brim - top), brim, s.hat)
    if s.hat_style == "beanie":
        band = (x - 1.16 * a, brim - 0.3 * a, x + 1.16 * a, brim + 0.04 * a)
        draw.rounded_rectangle(band, 0.1 * a, fill=shade)
        draw.ellipse(_around(x, top + 0.17 * a, 0.17 * a, 0.17 * a), fill=shade)
    else:  # cap: a visor below the crown
        draw.chord(_around(x, brim + 0.02 * a, 1.22 * a, 0.18 * a), 0, 180, fill=shade)


# ---------------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class RenderJob:
    """Faces start..stop-1 of the run `seed`, for one worker process."""

    seed: int
    start: int
    stop: int


@dataclass(frozen=True)
class RenderedFaces:
    """One job's JPEG files and their CelebA rows, int8 [n, 40] of -1/1."""

    start: int
    jpegs: list[bytes]
    labels: np.ndarray


def render_job(job: RenderJob) -> RenderedFaces:
    faces = [sample_face(job.seed, index) for index in range(job.start, job.stop)]
    labels = np.stack([face.attributes.celeba_row() for face in faces])
    return RenderedFaces(job.start, [encode_jpeg(draw_face(face)) for face in faces], labels)


def encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def image_name(index: int) -> str:
    """CelebA's file name of the face `index` (0-based): 000001.jpg, 000002.jpg, ..."""
    return f"{index + 1:06d}.jpg"


def partition_codes(count: int) -> np.ndarray:
    """int8 [count]: the first 80% train (0), the next 10% validation (1), the rest test (2)."""
    n_train, n_val = (round(count * fraction) for fraction in SPLIT_FRACTIONS)
    codes = np.full(count, 2, dtype=np.int8)
    codes[:n_train] = 0
    codes[n_train : n_train + n_val] = 1
    return codes


def generate_faces(
    out_dir: Path,
    count: int,
    *,
    seed: int = 0,
    layout: CelebaLayoutName = "official",
    zip_images: bool = False,
    workers: int = 2,
) -> Path:
    """Write `count` faces as a CelebA copy under `out_dir` (created; must be empty) and return it.

    `layout` "official" writes `img_align_celeba/` and the `.txt` lists, "kaggle" writes
    `img_align_celeba/img_align_celeba/` and the `.csv` lists; `zip_images` puts the images in
    `img_align_celeba.zip` (same inner folders) instead. The result loads with `load_celeba`.
    """
    _check_request(out_dir, count, layout, workers)
    files = CELEBA_LAYOUTS[layout]
    starts = range(0, count, RENDER_CHUNK)
    jobs = (RenderJob(seed, start, min(start + RENDER_CHUNK, count)) for start in starts)
    labels = np.empty((count, len(CELEBA_ATTRIBUTES)), dtype=np.int8)
    with (
        _image_sink(out_dir, files.images, zip_images) as write,
        tqdm(total=count, unit="img", desc="drawing faces", disable=None) as bar,
    ):
        for rendered in map_in_order(render_job, jobs, workers):
            for offset, jpeg in enumerate(rendered.jpegs):
                write(image_name(rendered.start + offset), jpeg)
            labels[rendered.start : rendered.start + len(rendered.jpegs)] = rendered.labels
            bar.update(len(rendered.jpegs))
    names = [image_name(index) for index in range(count)]
    write_attributes(out_dir / files.attributes, names, labels)
    write_partition(out_dir / files.partition, names, partition_codes(count))
    return out_dir


def _check_request(out_dir: Path, count: int, layout: str, workers: int) -> None:
    if count < 1 or workers < 1:
        raise ConfigError(f"need count >= 1 and workers >= 1, got {count} and {workers}")
    if layout not in CELEBA_LAYOUTS:
        names = " or ".join(repr(name) for name in CELEBA_LAYOUTS)
        raise ConfigError(f"layout must be {names}, got {layout!r}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ConfigError(f"{out_dir} exists and is not an empty folder: pick a new one")


@contextmanager
def _image_sink(
    root: Path, folder: str, zip_images: bool
) -> Iterator[Callable[[str, bytes], None]]:
    """A function that stores one image file under `folder`, in the folder tree or the zip."""
    if not zip_images:
        (root / folder).mkdir(parents=True)

        def write_file(name: str, data: bytes) -> None:
            (root / folder / name).write_bytes(data)

        yield write_file
        return
    root.mkdir(parents=True, exist_ok=True)
    # Stored, not deflated: JPEGs do not compress, and stored members read fastest.
    with zipfile.ZipFile(root / IMAGE_ZIP, "w", compression=zipfile.ZIP_STORED) as archive:

        def write_member(name: str, data: bytes) -> None:
            archive.writestr(zipfile.ZipInfo(f"{folder}/{name}", ZIP_DATE), data)

        yield write_member
