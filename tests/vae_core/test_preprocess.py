"""Preprocessing: padding to a square keeps the whole image; the steps that existed before it give
the very same pixels as ever; every shipped manifest still reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from tests.conftest import MODELS_DIR
from vae_core.bundle import Manifest
from vae_core.preprocess import Preprocessing

pytestmark = pytest.mark.unit

PAD = Preprocessing(color_mode="L", crop="pad_square", resize=(16, 16))
CROP = Preprocessing(color_mode="L", crop="center_square", resize=(16, 16))


def white(width: int, height: int) -> Image.Image:
    return Image.new("L", (width, height), 255)


def test_pad_square_centres_a_wide_image_on_black_without_cutting_it() -> None:
    pixels = PAD.to_pixels(white(40, 20))  # scaled to 16x8, then 4 black rows above and below

    assert pixels.shape == (16, 16)
    assert (pixels[:4] == 0).all() and (pixels[12:] == 0).all()
    assert (pixels[4:12] == 255).all()  # every column kept: nothing was cut off the sides


def test_pad_square_centres_a_tall_image_between_black_columns() -> None:
    pixels = PAD.to_pixels(white(10, 40))  # scaled to 4x16

    assert (pixels[:, :6] == 0).all() and (pixels[:, 10:] == 0).all()
    assert (pixels[:, 6:10] == 255).all()


def test_center_square_cuts_the_same_image_instead() -> None:
    assert (CROP.to_pixels(white(40, 20)) == 255).all()


def test_pad_square_leaves_a_square_image_as_a_resize_does() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8))

    assert (PAD.to_pixels(image) == CROP.to_pixels(image)).all()


def test_pad_square_of_an_extreme_strip_keeps_one_row() -> None:
    pixels = PAD.to_pixels(white(5000, 2))  # never a 5000x5000 canvas: scaled first

    assert pixels.shape == (16, 16)
    assert (pixels[7] == 255).all() and pixels.sum() == 16 * 255  # row (16 - 1) // 2


def reference_pixels(image: Image.Image, prep: Preprocessing) -> np.ndarray:
    """The steps as they were before pad_square existed, written out."""
    image = ImageOps.exif_transpose(image).convert(prep.color_mode)
    if prep.crop == "center_square":
        side = min(image.size)
        image = ImageOps.fit(image, (side, side), method=Image.Resampling.BILINEAR)
    height, width = prep.resize
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(image)


@pytest.mark.parametrize("bundle", sorted(path.name for path in MODELS_DIR.iterdir()))
def test_shipped_preprocessing_gives_the_same_pixels_as_before(bundle: str) -> None:
    prep = Manifest.model_validate_json((MODELS_DIR / bundle / "model.json").read_bytes())
    rng = np.random.default_rng(1)
    for height, width in [(218, 178), (28, 28), (50, 90)]:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        got = prep.preprocessing.to_pixels(image)
        assert (got == reference_pixels(image, prep.preprocessing)).all()


@pytest.mark.parametrize("bundle", sorted(path.name for path in MODELS_DIR.iterdir()))
def test_a_shipped_manifest_reads_and_writes_back_unchanged_but_for_the_empty_card(
    bundle: str,
) -> None:
    raw = json.loads((MODELS_DIR / bundle / "model.json").read_bytes())
    written = Manifest.model_validate(raw).model_dump(mode="json")

    assert written["dataset"].pop("card") is None
    assert raw["dataset"].pop("card", None) is None  # null in a manifest written since cards exist
    if "anomaly" not in raw:  # a manifest written before calibrations existed reads as without
        assert written.pop("anomaly") is None
    assert written == raw
