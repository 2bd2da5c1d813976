"""The CelebA loader on each layout (written by the faces generator) and on every broken copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.training.datasets.conftest import COUNT, SEED, all_labels, generated
from training.datasets.celeba import (
    CELEBA_ATTRIBUTES,
    CelebaLayoutName,
    attribute_index,
    load_celeba,
)
from training.datasets.splits import DatasetSplits
from training.errors import ConfigError, DatasetInvalid, DatasetNotFound
from training.faces.records import sample_face
from training.faces.writer import generate_faces
from vae_core.preprocess import Preprocessing

pytestmark = pytest.mark.unit


@pytest.fixture
def copy(official: Path, tmp_path: Path) -> Path:
    """A private copy of the official layout, free to break."""
    return Path(shutil.copytree(official, tmp_path / "celeba"))


def all_pixels(splits: DatasetSplits) -> np.ndarray:
    return np.concatenate([splits.train.pixels, splits.val.pixels, splits.test.pixels])


def edit_line(path: Path, number: int, edit: Callable[[str], str]) -> None:
    """Replace line `number` (1-based) of a text file by `edit(line)`."""
    lines = path.read_text().splitlines()
    lines[number - 1] = edit(lines[number - 1])
    path.write_text("\n".join(lines) + "\n")


def test_official_layout_loads_celebas_partition(official_splits: DatasetSplits) -> None:
    splits = official_splits

    assert splits.name == "celeba"
    assert [len(splits.train), len(splits.val), len(splits.test)] == [24, 3, 3]
    assert splits.train.pixels.shape == (24, 32, 32, 3)
    assert splits.train.pixels.dtype == np.uint8
    assert splits.train.labels.shape == (24, 40)
    assert splits.train.labels.dtype == np.bool_
    assert splits.train.label_names == list(CELEBA_ATTRIBUTES)
    assert splits.train.label_kind == "attribute"


def test_labels_are_what_the_generator_drew(official_splits: DatasetSplits) -> None:
    drawn = np.stack([sample_face(SEED, i).attributes.celeba_row() == 1 for i in range(COUNT)])

    assert (all_labels(official_splits) == drawn).all()


def test_pixels_are_the_files_through_the_services_preprocessing(
    official: Path, official_splits: DatasetSplits
) -> None:
    preprocessing = Preprocessing(color_mode="RGB", crop="center_square", resize=(32, 32), pad=0)
    for index, name in [(0, "000001.jpg"), (29, "000030.jpg")]:
        with Image.open(official / "img_align_celeba" / name) as image:
            expected = preprocessing.to_pixels(image)

        assert (all_pixels(official_splits)[index] == expected).all()
    assert official_splits.preprocessing == preprocessing


@pytest.mark.parametrize(
    ("layout", "zip_images"), [("kaggle", False), ("official", True), ("kaggle", True)]
)
def test_kaggle_and_zip_layouts_load_the_same_dataset(
    tmp_path_factory: pytest.TempPathFactory,
    official_splits: DatasetSplits,
    layout: CelebaLayoutName,
    zip_images: bool,
) -> None:
    splits = load_celeba(generated(tmp_path_factory, layout, zip_images), image_size=32, workers=1)

    assert [len(splits.train), len(splits.val), len(splits.test)] == [24, 3, 3]
    assert (all_pixels(splits) == all_pixels(official_splits)).all()
    assert (all_labels(splits) == all_labels(official_splits)).all()


def test_zip_is_read_when_the_folder_is_absent(copy: Path) -> None:
    images = copy / "img_align_celeba"
    shutil.make_archive(str(copy / "img_align_celeba"), "zip", copy, "img_align_celeba")
    shutil.rmtree(images)

    splits = load_celeba(copy, image_size=32, workers=1)

    assert len(splits.train) + len(splits.val) + len(splits.test) == COUNT


@pytest.mark.parametrize("size", [32, 64, 128])
def test_image_size_sets_the_resize(official: Path, size: int) -> None:
    splits = load_celeba(official, image_size=size, max_images=3, workers=1)

    assert splits.preprocessing.resize == (size, size)
    assert splits.train.pixels.shape[1:] == (size, size, 3)
    assert splits.preprocessing.crop == "center_square"


def test_unsupported_image_size_is_a_config_error(official: Path) -> None:
    with pytest.raises(ConfigError, match=r"one of \(32, 64, 128\), got 48"):
        load_celeba(official, image_size=48)


def test_max_images_keeps_the_first_of_every_split(
    official: Path, official_splits: DatasetSplits
) -> None:
    splits = load_celeba(official, image_size=32, max_images=10, workers=1)

    assert [len(splits.train), len(splits.val), len(splits.test)] == [8, 1, 1]
    assert (splits.train.pixels == official_splits.train.pixels[:8]).all()
    assert (splits.test.labels == official_splits.test.labels[:1]).all()


def test_max_images_below_one_is_a_config_error(official: Path) -> None:
    with pytest.raises(ConfigError, match="max_images"):
        load_celeba(official, max_images=0)


def test_two_worker_processes_decode_the_same_pixels(
    official: Path, official_splits: DatasetSplits
) -> None:
    splits = load_celeba(official, image_size=32, workers=2)

    assert (all_pixels(splits) == all_pixels(official_splits)).all()


def test_root_none_reads_celeba_dir(official: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELEBA_DIR", str(official))

    assert len(load_celeba(None, image_size=32, max_images=3, workers=1).train) == 1


def test_root_none_without_celeba_dir_says_where_to_put_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CELEBA_DIR", raising=False)

    with pytest.raises(DatasetNotFound, match=r"\$CELEBA_DIR is not set.*--data-dir"):
        load_celeba(None)


def test_missing_root_names_it_and_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELEBA_DIR", str(tmp_path / "nowhere"))

    with pytest.raises(DatasetNotFound, match=r"nowhere \(from \$CELEBA_DIR\) does not exist"):
        load_celeba(None)


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("list_attr_celeba.txt", "missing list_attr_celeba.txt or list_attr_celeba.csv"),
        ("list_eval_partition.txt", "missing list_eval_partition.txt or list_eval_partition.csv"),
        (
            "img_align_celeba",
            r"missing img_align_celeba/img_align_celeba/\*.jpg or .* or img_align_celeba.zip",
        ),
    ],
)
def test_missing_part_is_named(copy: Path, remove: str, message: str) -> None:
    path = copy / remove
    shutil.rmtree(path) if path.is_dir() else path.unlink()

    with pytest.raises(DatasetNotFound, match=message):
        load_celeba(copy)


def test_row_naming_a_missing_image_is_invalid(copy: Path) -> None:
    (copy / "img_align_celeba" / "000007.jpg").unlink()

    with pytest.raises(DatasetInvalid, match=r"1 rows name images missing .*'000007.jpg'"):
        load_celeba(copy, workers=1)


def replace_value(line: str, column: int, value: str) -> str:
    tokens = line.split()
    tokens[1 + column] = value
    return " ".join(tokens)


SMILING = CELEBA_ATTRIBUTES.index("Smiling")


@pytest.mark.parametrize(
    ("number", "edit", "message"),
    [
        pytest.param(
            1, lambda line: "31", "line 1 counts 31 images but 30 rows follow", id="count disagrees"
        ),
        pytest.param(
            1, lambda line: "many", "line 1: expected the image count", id="count not a number"
        ),
        pytest.param(
            2,
            lambda line: line.replace("Smiling", "Smile"),
            r"missing: \['Smiling'\], unexpected: \['Smile'\]",
            id="header renames a column",
        ),
        pytest.param(
            5,
            lambda line: line.rsplit(" ", 1)[0],
            "line 5: 40 fields, expected an image name and 40 values",
            id="row lacks a value",
        ),
        pytest.param(6, lambda line: line + " 1", "line 6: 42 fields", id="row has an extra value"),
        pytest.param(
            7,
            lambda line: replace_value(line, SMILING, "0"),
            "line 7: Smiling is '0', expected -1 or 1",
            id="value is 0",
        ),
        pytest.param(
            8,
            lambda line: line.replace("000006", "000005"),
            r"000005\.jpg has more than one row",
            id="row repeats an image",
        ),
    ],
)
def test_inconsistent_attribute_list_is_invalid(
    copy: Path, number: int, edit: Callable[[str], str], message: str
) -> None:
    edit_line(copy / "list_attr_celeba.txt", number, edit)

    with pytest.raises(DatasetInvalid, match=message):
        load_celeba(copy, workers=1)


def test_partition_naming_an_unknown_image_is_invalid(copy: Path) -> None:
    with (copy / "list_eval_partition.txt").open("a") as file:
        file.write("000099.jpg 0\n")

    with pytest.raises(DatasetInvalid, match=r"1 images are not in list_attr_celeba.txt.*000099"):
        load_celeba(copy, workers=1)


def test_partition_code_outside_0_1_2_is_invalid(copy: Path) -> None:
    edit_line(copy / "list_eval_partition.txt", 4, lambda line: "000004.jpg 3")

    with pytest.raises(DatasetInvalid, match=r"line 4: expected '<image> <0\|1\|2>'"):
        load_celeba(copy, workers=1)


def test_image_without_a_partition_is_invalid(copy: Path) -> None:
    edit_line(copy / "list_eval_partition.txt", 30, lambda line: "")

    with pytest.raises(DatasetInvalid, match=r"lack a split: \['000030.jpg'\]"):
        load_celeba(copy, workers=1)


def test_unreadable_jpeg_is_named(copy: Path) -> None:
    (copy / "img_align_celeba" / "000003.jpg").write_bytes(b"not a jpeg")

    with pytest.raises(DatasetInvalid, match=r"000003\.jpg: not a readable image"):
        load_celeba(copy, workers=1)


def test_kaggle_csv_errors_give_the_line(tmp_path: Path) -> None:
    root = generate_faces(tmp_path / "celeba", 5, seed=0, layout="kaggle", workers=1)
    edit_line(root / "list_attr_celeba.csv", 3, lambda line: line.replace(",-1", ",0", 1))

    with pytest.raises(DatasetInvalid, match=r"list_attr_celeba.csv line 3: .* is '0'"):
        load_celeba(root, workers=1)


def test_kaggle_partition_needs_its_header(tmp_path: Path) -> None:
    root = generate_faces(tmp_path / "celeba", 5, seed=0, layout="kaggle", workers=1)
    edit_line(root / "list_eval_partition.csv", 1, lambda line: "image,split")

    with pytest.raises(DatasetInvalid, match="expected the header image_id,partition"):
        load_celeba(root, workers=1)


def test_celeba_attributes_are_the_official_forty() -> None:
    assert len(CELEBA_ATTRIBUTES) == len(set(CELEBA_ATTRIBUTES)) == 40
    assert CELEBA_ATTRIBUTES[:3] == ("5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive")
    assert CELEBA_ATTRIBUTES[-3:] == ("Wearing_Necklace", "Wearing_Necktie", "Young")


def test_attribute_index_gives_columns_in_the_order_asked() -> None:
    assert attribute_index(CELEBA_ATTRIBUTES, ["Smiling", "5_o_Clock_Shadow", "Young"]) == [
        31,
        0,
        39,
    ]


def test_attribute_index_rejects_unknown_names_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as error:
        attribute_index(CELEBA_ATTRIBUTES, ["Smiling", "Smilng", "Hat"])

    message = str(error.value)
    assert "unknown attribute 'Smilng' (did you mean 'Smiling'?), 'Hat'" in message
    assert "valid attributes: 5_o_Clock_Shadow, Arched_Eyebrows" in message
    assert message.endswith("Wearing_Necktie, Young")
