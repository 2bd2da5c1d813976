"""Drawn faces: each attribute changes its own region of the image, in its own colours."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from training.faces.drawing import MOUTH_INSIDE, draw_face
from training.faces.records import Face, FaceStyle, sample_face

pytestmark = pytest.mark.unit


def with_attributes(face: Face, **changes: Any) -> Face:
    """The same face, upright, with some attributes changed."""
    attributes = dataclasses.replace(face.attributes, **changes)
    return Face(attributes, dataclasses.replace(face.style, rotation=0.0))


def pixels(face: Face) -> np.ndarray:
    return np.asarray(draw_face(face), dtype=np.int16)


def changed_region(face: Face, **changes: Any) -> np.ndarray:
    """bool [H, W]: the pixels that differ between `face` and the same face with `changes`."""
    return (pixels(face) != pixels(with_attributes(face, **changes))).any(axis=2)


@dataclass(frozen=True)
class Change:
    """The pixels of face `index` that change when some of its attributes do."""

    index: int
    style: FaceStyle
    region: np.ndarray  # bool [H, W]

    @property
    def rows(self) -> np.ndarray:
        return np.nonzero(self.region)[0]

    @property
    def cols(self) -> np.ndarray:
        return np.nonzero(self.region)[1]


def changes(seed: int, before: dict[str, Any], after: dict[str, Any]) -> Iterator[Change]:
    """Faces 0..11 of the run `seed`, upright with the attributes `before`: what `after` changes."""
    for index in range(12):
        face = with_attributes(sample_face(seed, index), **before)
        yield Change(index, face.style, changed_region(face, **after))


def count_color(image: np.ndarray, color: tuple[int, int, int]) -> int:
    return int((image == np.array(color)).all(axis=2).sum())


def color_rows(image: np.ndarray, color: tuple[int, int, int]) -> int:
    """How many rows of `image` hold `color`: the height of whatever is drawn in it."""
    return len(np.unique(np.nonzero((image == np.array(color)).all(axis=2))[0]))


def test_faces_are_celeba_sized_and_leave_the_cropped_rows_empty() -> None:
    for index in range(40):
        face = sample_face(0, index)
        hatted = Face(dataclasses.replace(face.attributes, wearing_hat=True), face.style)
        image = pixels(hatted)

        assert image.shape == (218, 178, 3)
        # The background is a vertical gradient, so a row with nothing drawn is one colour; the
        # 20 rows that the centre square crop removes above the face must hold nothing.
        assert (image[:20] == image[:20, :1]).all(), index


def test_glasses_change_only_the_eye_band() -> None:
    for change in changes(1, before={"eyeglasses": False}, after={"eyeglasses": True}):
        style, index = change.style, change.index

        assert change.region.sum() > 0.1 * style.half_width**2, index
        assert change.rows.min() >= style.center_y - 0.5 * style.half_width, index
        assert change.rows.max() <= style.center_y + 0.3 * style.half_width, index
        assert np.abs(change.cols - style.center_x).max() <= style.half_width + 3, index


def test_glasses_colour_is_present_exactly_with_eyeglasses() -> None:
    for index in range(30):
        face = sample_face(2, index)
        on = dataclasses.replace(face.attributes, eyeglasses=True)
        off = dataclasses.replace(face.attributes, eyeglasses=False)

        frame_pixels = count_color(pixels(Face(on, face.style)), face.style.glasses)
        assert frame_pixels > 100, index
        assert count_color(pixels(Face(off, face.style)), face.style.glasses) == 0, index


def test_hat_changes_only_the_head_above_the_eyebrows() -> None:
    for change in changes(3, before={"wearing_hat": False}, after={"wearing_hat": True}):
        style, index = change.style, change.index

        assert change.region.sum() > style.half_width**2, index
        assert change.rows.max() < style.center_y - 0.4 * style.half_width, index


def test_hat_colour_is_present_exactly_with_a_hat() -> None:
    for index in range(30):
        face = sample_face(4, index)
        with_hat = pixels(with_attributes(face, wearing_hat=True))
        without = pixels(with_attributes(face, wearing_hat=False))

        assert count_color(with_hat, face.style.hat) > 300, index
        assert count_color(without, face.style.hat) == 0, index


def test_smiling_changes_only_the_mouth_and_cheeks() -> None:
    for change in changes(5, before={"smiling": False}, after={"smiling": True}):
        style, index = change.style, change.index

        assert change.region.sum() > 0.2 * style.half_width**2, index
        assert change.rows.min() >= style.center_y + 0.1 * style.half_width, index  # below the eyes
        assert change.rows.max() <= style.center_y + style.half_height, index
        # the cheeks reach 0.78 of the half-width, plus a pixel of rounding; the face's edge is 1.0
        assert np.abs(change.cols - style.center_x).max() <= 0.82 * style.half_width + 1, index


def test_smiling_flushes_both_cheeks() -> None:
    """A cheek's pixel turns pinker (red pulls away from green) with a smile, on any skin."""
    for index in range(12):
        face = sample_face(8, index)
        style = face.style
        a, y = style.half_width, round(style.center_y + 0.3 * style.half_width)
        smiling = pixels(with_attributes(face, smiling=True))
        neutral = pixels(with_attributes(face, smiling=False))
        for side in (-1, 1):
            x = round(style.center_x + side * 0.56 * a)
            (r1, g1, _), (r0, g0, _) = smiling[y, x], neutral[y, x]
            assert (r1 - g1) - (r0 - g0) > 20, (index, side)


def test_a_closed_smile_curves_where_a_closed_neutral_mouth_is_flat() -> None:
    for index in range(12):
        face = sample_face(6, index)
        lip = face.style.lip
        smile = pixels(with_attributes(face, smiling=True, mouth_open=False))
        neutral = pixels(with_attributes(face, smiling=False, mouth_open=False))

        assert color_rows(smile, lip) >= 2 * color_rows(neutral, lip) > 0, index


def test_inside_of_the_mouth_shows_exactly_when_it_is_open() -> None:
    for index in range(12):
        face = sample_face(7, index)
        for smiling in (False, True):
            opened = pixels(with_attributes(face, mouth_open=True, smiling=smiling))
            closed = pixels(with_attributes(face, mouth_open=False, smiling=smiling))

            assert count_color(opened, MOUTH_INSIDE) > 20, index
            assert count_color(closed, MOUTH_INSIDE) == 0, index


def test_pale_skin_is_clearly_paler_than_any_other_skin() -> None:
    face = with_attributes(sample_face(8, 0), male=False, facial_hair="none")
    cheek = (round(face.style.center_y + 0.1 * face.style.half_width),
             round(face.style.center_x - 0.65 * face.style.half_width))  # fmt: skip

    def cheek_brightness(pale: bool, shade: float) -> float:
        style = dataclasses.replace(face.style, skin_shade=shade)
        return float(
            pixels(with_attributes(Face(face.attributes, style), pale_skin=pale))[cheek].mean()
        )

    darkest_pale = cheek_brightness(True, 1.0)
    lightest_other = cheek_brightness(False, 0.0)
    assert darkest_pale > lightest_other + 25


def test_bangs_cover_the_forehead() -> None:
    for change in changes(9, before={"bangs": False, "wearing_hat": False}, after={"bangs": True}):
        style = change.style
        forehead = (round(style.center_y - 0.6 * style.half_width), round(style.center_x))

        assert change.region[forehead], change.index


@pytest.mark.parametrize("kind", ["mustache", "goatee", "beard"])
def test_male_faces_wear_facial_hair_on_the_lower_face(kind: str) -> None:
    beardless = {"male": False, "facial_hair": "none"}
    for change in changes(10, before=beardless, after={"male": True, "facial_hair": kind}):
        style, index = change.style, change.index

        assert change.region.sum() > 0.1 * style.half_width**2, index
        assert change.rows.min() > style.center_y + 0.1 * style.half_width, index
