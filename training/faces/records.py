"""What a drawn face shows (its CelebA attributes) and how it is drawn (its style), sampled from
`(seed, index)` alone. Lengths are pixels of the 178x218 image, as CelebA's aligned faces."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Literal

import numpy as np

from training.datasets.celeba import CELEBA_ATTRIBUTES

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
EYE_COLORS: tuple[RGB, ...] = ((70, 110, 170), (100, 62, 30), (70, 120, 72), (45, 34, 28))

WIDTH, HEIGHT = 178, 218  # CelebA's aligned images
TOP, BOTTOM = 32, 186  # drawing limits: the centre square spans rows 20..198, less tilt margin


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
