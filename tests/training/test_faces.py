"""The drawn-faces generator: deterministic output, labels true by construction, CelebA files."""

from __future__ import annotations

import dataclasses
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.datasets.celeba import CELEBA_ATTRIBUTES, CelebaLayoutName
from training.errors import ConfigError
from training.faces import (
    MOUTH_INSIDE,
    Face,
    FaceAttributes,
    draw_face,
    generate_faces,
    sample_face,
)

DRAWN = {
    "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Wearing_Hat", "Bangs", "Male", "Pale_Skin",
    "Blond_Hair", "Black_Hair", "Brown_Hair", "Gray_Hair", "Mustache", "Goatee", "No_Beard",
}  # fmt: skip
COLUMN = {name: i for i, name in enumerate(CELEBA_ATTRIBUTES)}


def with_attributes(face: Face, **changes: Any) -> Face:
    """The same face, upright, with some attributes changed."""
    attributes = dataclasses.replace(face.attributes, **changes)
    return Face(attributes, dataclasses.replace(face.style, rotation=0.0))


def pixels(face: Face) -> np.ndarray:
    return np.asarray(draw_face(face), dtype=np.int16)


def changed_region(face: Face, **changes: Any) -> np.ndarray:
    """bool [H, W]: the pixels that differ between `face` and the same face with `changes`."""
    return (pixels(face) != pixels(with_attributes(face, **changes))).any(axis=2)


def count_color(image: np.ndarray, color: tuple[int, int, int]) -> int:
    return int((image == np.array(color)).all(axis=2).sum())


def color_rows(image: np.ndarray, color: tuple[int, int, int]) -> int:
    """How many rows of `image` hold `color`: the height of whatever is drawn in it."""
    return len(np.unique(np.nonzero((image == np.array(color)).all(axis=2))[0]))


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_byte_identical_files_whatever_the_workers(tmp_path: Path) -> None:
    one = generate_faces(tmp_path / "one", 70, seed=3, workers=1)
    two = generate_faces(tmp_path / "two", 70, seed=3, workers=2)

    files = tree_bytes(one)
    assert len(files) == 72  # 70 images and the two lists
    assert files == tree_bytes(two)


def test_different_seeds_give_different_images(tmp_path: Path) -> None:
    first = tree_bytes(generate_faces(tmp_path / "a", 8, seed=1, workers=1))
    second = tree_bytes(generate_faces(tmp_path / "b", 8, seed=2, workers=1))

    images = [name for name in first if name.endswith(".jpg")]
    assert len(images) == 8
    assert all(first[name] != second[name] for name in images)


def test_sample_face_depends_only_on_seed_and_index() -> None:
    assert sample_face(5, 9) == sample_face(5, 9)
    assert sample_face(5, 9) != sample_face(5, 10)
    assert sample_face(5, 9) != sample_face(6, 9)


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
    for index in range(12):
        face = sample_face(1, index)
        style = face.style
        changed = changed_region(with_attributes(face, eyeglasses=False), eyeglasses=True)
        rows, cols = np.nonzero(changed)

        assert changed.sum() > 0.1 * style.half_width**2, index
        assert rows.min() >= style.center_y - 0.5 * style.half_width, index
        assert rows.max() <= style.center_y + 0.3 * style.half_width, index
        assert np.abs(cols - style.center_x).max() <= style.half_width + 3, index


def test_glasses_colour_is_present_exactly_with_eyeglasses() -> None:
    for index in range(30):
        face = sample_face(2, index)
        on = dataclasses.replace(face.attributes, eyeglasses=True)
        off = dataclasses.replace(face.attributes, eyeglasses=False)

        frame_pixels = count_color(pixels(Face(on, face.style)), face.style.glasses)
        assert frame_pixels > 100, index
        assert count_color(pixels(Face(off, face.style)), face.style.glasses) == 0, index


def test_hat_changes_only_the_head_above_the_eyebrows() -> None:
    for index in range(12):
        face = sample_face(3, index)
        style = face.style
        changed = changed_region(with_attributes(face, wearing_hat=False), wearing_hat=True)
        rows, _ = np.nonzero(changed)

        assert changed.sum() > style.half_width**2, index
        assert rows.max() < style.center_y - 0.4 * style.half_width, index


def test_hat_colour_is_present_exactly_with_a_hat() -> None:
    for index in range(30):
        face = sample_face(4, index)
        with_hat = pixels(with_attributes(face, wearing_hat=True))
        without = pixels(with_attributes(face, wearing_hat=False))

        assert count_color(with_hat, face.style.hat) > 300, index
        assert count_color(without, face.style.hat) == 0, index


def test_smiling_changes_only_the_mouth_and_cheeks() -> None:
    for index in range(12):
        face = sample_face(5, index)
        style = face.style
        changed = changed_region(with_attributes(face, smiling=False), smiling=True)
        rows, cols = np.nonzero(changed)

        assert changed.sum() > 0.2 * style.half_width**2, index
        assert rows.min() >= style.center_y + 0.1 * style.half_width, index  # below the eyes
        assert rows.max() <= style.center_y + style.half_height, index
        # the cheeks reach 0.78 of the half-width, plus a pixel of rounding; the face's edge is 1.0
        assert np.abs(cols - style.center_x).max() <= 0.82 * style.half_width + 1, index


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
    for index in range(12):
        face = sample_face(9, index)
        style = face.style
        changed = changed_region(with_attributes(face, bangs=False, wearing_hat=False), bangs=True)
        forehead = changed[round(style.center_y - 0.6 * style.half_width), round(style.center_x)]

        assert forehead, index


@pytest.mark.parametrize("kind", ["mustache", "goatee", "beard"])
def test_male_faces_wear_facial_hair_on_the_lower_face(kind: str) -> None:
    for index in range(12):
        face = with_attributes(sample_face(10, index), male=False, facial_hair="none")
        style = face.style
        changed = changed_region(face, male=True, facial_hair=kind)
        rows, _ = np.nonzero(changed)

        assert changed.sum() > 0.1 * style.half_width**2, index
        assert rows.min() > style.center_y + 0.1 * style.half_width, index


def test_labels_are_the_drawn_attributes_and_every_other_column_is_minus_one() -> None:
    for index in range(100):
        attributes = sample_face(10, index).attributes
        row = attributes.celeba_row()
        value = {name: row[COLUMN[name]] == 1 for name in CELEBA_ATTRIBUTES}

        assert set(row.tolist()) <= {-1, 1}
        assert not any(value[name] for name in CELEBA_ATTRIBUTES if name not in DRAWN)
        assert value["Smiling"] == attributes.smiling
        assert value["Eyeglasses"] == attributes.eyeglasses
        assert value["Wearing_Hat"] == attributes.wearing_hat
        assert value["Male"] == (attributes.facial_hair != "none")
        assert value["Male"] == (value["Mustache"] or value["Goatee"] or not value["No_Beard"])
        hair = [value[f"{color}_Hair"] for color in ("Blond", "Black", "Brown", "Gray")]
        assert sum(hair) == 1


def test_attributes_are_roughly_balanced() -> None:
    rows = np.stack([sample_face(11, index).attributes.celeba_row() for index in range(200)])
    frequency = {name: float((rows[:, COLUMN[name]] == 1).mean()) for name in DRAWN}

    binary = ["Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Wearing_Hat", "Bangs", "Male"]
    for name in [*binary, "Pale_Skin"]:
        assert 0.35 <= frequency[name] <= 0.65, (name, frequency[name])
    for name in ("Blond_Hair", "Black_Hair", "Brown_Hair", "Gray_Hair"):
        assert 0.15 <= frequency[name] <= 0.35, (name, frequency[name])


def test_male_faces_need_facial_hair_and_others_none() -> None:
    attributes = sample_face(0, 0).attributes
    with pytest.raises(ValueError, match="facial_hair"):
        dataclasses.replace(attributes, male=True, facial_hair="none")
    with pytest.raises(ValueError, match="facial_hair"):
        dataclasses.replace(attributes, male=False, facial_hair="goatee")
    assert FaceAttributes(
        **{**dataclasses.asdict(attributes), "male": False, "facial_hair": "none"}
    )


def test_official_lists_have_celeba_format(tmp_path: Path) -> None:
    root = generate_faces(tmp_path / "faces", 30, seed=12, workers=1)
    lines = (root / "list_attr_celeba.txt").read_text().splitlines()
    partition = (root / "list_eval_partition.txt").read_text().splitlines()

    assert lines[0] == "30"
    assert lines[1].split() == list(CELEBA_ATTRIBUTES)
    assert re.fullmatch(r"000001\.jpg( -1|  1){40}", lines[2])
    assert [line.split()[0] for line in lines[2:]] == [f"{i:06d}.jpg" for i in range(1, 31)]
    written = np.array([[int(v) for v in line.split()[1:]] for line in lines[2:]])
    expected = np.stack([sample_face(12, i).attributes.celeba_row() for i in range(30)])
    assert (written == expected).all()
    assert [line.split()[1] for line in partition] == ["0"] * 24 + ["1"] * 3 + ["2"] * 3
    assert len(list((root / "img_align_celeba").glob("*.jpg"))) == 30


def test_kaggle_lists_are_csv(tmp_path: Path) -> None:
    root = generate_faces(tmp_path / "faces", 10, seed=12, layout="kaggle", workers=1)
    attributes = (root / "list_attr_celeba.csv").read_text().splitlines()
    partition = (root / "list_eval_partition.csv").read_text().splitlines()

    assert attributes[0] == ",".join(["image_id", *CELEBA_ATTRIBUTES])
    assert re.fullmatch(r"000001\.jpg(,-1|,1){40}", attributes[1])
    assert partition[0] == "image_id,partition"
    assert partition[1:] == [
        f"{i:06d}.jpg,{c}" for i, c in zip(range(1, 11), [0] * 8 + [1, 2], strict=True)
    ]
    assert len(list((root / "img_align_celeba" / "img_align_celeba").glob("*.jpg"))) == 10


@pytest.mark.parametrize(
    ("layout", "folder"),
    [("official", "img_align_celeba"), ("kaggle", "img_align_celeba/img_align_celeba")],
)
def test_zip_images_writes_the_archive_instead_of_the_folder(
    tmp_path: Path, layout: CelebaLayoutName, folder: str
) -> None:
    root = generate_faces(tmp_path / "faces", 5, layout=layout, zip_images=True, workers=1)

    assert not (root / "img_align_celeba").exists()
    with zipfile.ZipFile(root / "img_align_celeba.zip") as archive:
        assert archive.namelist() == [f"{folder}/{i:06d}.jpg" for i in range(1, 6)]
        assert archive.read(f"{folder}/000001.jpg")[:2] == b"\xff\xd8"  # a JPEG


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("stale")

    with pytest.raises(ConfigError, match="not an empty folder"):
        generate_faces(tmp_path, 3, workers=1)


@pytest.mark.parametrize(
    ("count", "layout", "workers", "message"),
    [(0, "official", 1, "count >= 1"), (3, "official", 0, "workers >= 1"), (3, "tar", 1, "layout")],
)
def test_refuses_bad_requests(
    tmp_path: Path, count: int, layout: str, workers: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        generate_faces(tmp_path / "faces", count, layout=layout, workers=workers)  # type: ignore[arg-type]
