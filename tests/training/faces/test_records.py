"""Sampled faces: a function of (seed, index), labels true by construction, roughly balanced."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from training.datasets.celeba import CELEBA_ATTRIBUTES
from training.faces.records import FaceAttributes, sample_face

pytestmark = pytest.mark.unit

DRAWN = {
    "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Wearing_Hat", "Bangs", "Male", "Pale_Skin",
    "Blond_Hair", "Black_Hair", "Brown_Hair", "Gray_Hair", "Mustache", "Goatee", "No_Beard",
}  # fmt: skip
COLUMN = {name: i for i, name in enumerate(CELEBA_ATTRIBUTES)}


def test_sample_face_depends_only_on_seed_and_index() -> None:
    assert sample_face(5, 9) == sample_face(5, 9)
    assert sample_face(5, 9) != sample_face(5, 10)
    assert sample_face(5, 9) != sample_face(6, 9)


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
