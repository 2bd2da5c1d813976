"""Bad data in a folder: every problem named (file, row, column), all in one error, before any
training; unreadable images fail unless skipped, and then they are counted."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from tests.training.datasets.folders import (
    save,
    write_class_folders,
    write_metadata_folder,
    write_unlabeled,
)
from training.cli import main
from training.datasets.catalog import load_dataset
from training.datasets.splits import DatasetSplits, LoadOptions
from training.errors import DatasetInvalid, DatasetNotFound

pytestmark = pytest.mark.unit


def load(root: Path, **options: object) -> DatasetSplits:
    return load_dataset("folder", root, 16, LoadOptions(workers=1, **options))  # type: ignore[arg-type]


def problems(root: Path, **options: object) -> str:
    with pytest.raises(DatasetInvalid) as raised:
        load(root, **options)
    return str(raised.value)


def rewrite_csv(path: Path, change: object) -> None:
    rows = list(csv.reader(path.open()))
    change(rows)  # type: ignore[operator]
    with path.open("w", newline="") as file:
        csv.writer(file).writerows(rows)


def test_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")

    assert "no images (files ending in .jpg, .jpeg, .png" in problems(tmp_path)


def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="nowhere is not a folder"):
        load(tmp_path / "nowhere")


def test_a_metadata_row_naming_a_missing_file(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_metadata_folder(tmp_path, fashion.train, 20)
    (tmp_path / "images" / "00003.png").unlink()

    message = problems(tmp_path)

    assert "1 rows name files that are not images here:" in message
    assert "metadata.csv line 5: images/00003.png" in message  # line 1 is the header


def test_an_image_with_no_metadata_row(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_metadata_folder(tmp_path, fashion.train, 20)
    save(fashion.train.pixels[50], tmp_path / "images" / "extra.png")

    assert "1 images have no metadata row:\n      images/extra.png" in problems(tmp_path)


def test_values_that_are_not_binary_name_their_rows(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_metadata_folder(tmp_path, fashion.train, 20)
    rewrite_csv(tmp_path / "metadata.csv", lambda rows: rows[3].__setitem__(2, "yes"))

    message = problems(tmp_path)

    assert "column 'Footwear': 1 values are not binary, expected 0/1, true/false or -1/1" in message
    assert "metadata.csv line 4 (images/00002.png): 'yes'" in message


def test_a_column_mixing_0_and_minus_1(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_metadata_folder(tmp_path, fashion.train, 20, words=("-1", "1"))
    rewrite_csv(tmp_path / "metadata.csv", lambda rows: rows[1].__setitem__(3, "0"))

    assert "column 'Top' holds both 0 and -1: use 0/1 or -1/1" in problems(tmp_path)


def test_an_attribute_column_with_one_value_only(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_metadata_folder(tmp_path, fashion.train, 20)
    rewrite_csv(tmp_path / "metadata.csv", lambda rows: [row.append("1") for row in rows])
    rewrite_csv(tmp_path / "metadata.csv", lambda rows: rows[0].__setitem__(-1, "Clothing"))

    assert "column 'Clothing' is set for every image (20 rows)" in problems(tmp_path)


def test_a_class_folder_with_no_images(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_class_folders(tmp_path, fashion.train, 30)
    (tmp_path / "Hats").mkdir()
    (tmp_path / "Hats" / "readme.txt").write_text("to do")

    assert "1 class folders hold no images:\n      Hats/" in problems(tmp_path)


def test_one_class_folder_only(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_unlabeled(tmp_path / "shoes", fashion.train, 20)

    assert "one class folder only (shoes/)" in problems(tmp_path)


def test_images_beside_class_folders(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_class_folders(tmp_path, fashion.train, 30)
    save(fashion.train.pixels[40], tmp_path / "stray.jpg")

    assert "1 images lie beside class folders" in problems(tmp_path)


def test_a_split_folder_without_train(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_class_folders(tmp_path / "val", fashion.train, 10)
    write_class_folders(tmp_path / "test", fashion.train, 10)

    assert "val/ and test/ without train/" in problems(tmp_path)


def test_fewer_images_than_one_batch(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_unlabeled(tmp_path, fashion.train, 30)

    message = problems(tmp_path, min_train_images=64)

    assert "the training split has 24 images, fewer than one batch (64)" in message


def write_bad_images(root: Path) -> None:
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.png").write_bytes(b"not an image at all")
    whole = (root / "00001.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # truncated


def test_unreadable_images_are_each_named(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_unlabeled(tmp_path, fashion.train, 30)
    write_bad_images(tmp_path)

    message = problems(tmp_path)

    assert "3 images cannot be read (leave them out with --skip-bad-images):" in message
    assert re.search(r"\n      cut\.jpg: OSError: .*[Tt]runcated", message)
    assert "\n      empty.jpg: not an image file that Pillow can read" in message
    assert "\n      text.png: not an image file that Pillow can read" in message


def test_skip_bad_images_leaves_them_out_and_counts_them(
    fashion: DatasetSplits, tmp_path: Path
) -> None:
    write_unlabeled(tmp_path, fashion.train, 30)
    write_bad_images(tmp_path)

    data = load(tmp_path, skip_bad_images=True)

    assert len(data.train) + len(data.val) + len(data.test) == 30
    assert data.card is not None and data.card.skipped_images == 3


def test_every_problem_is_listed_in_one_error(fashion: DatasetSplits, tmp_path: Path) -> None:
    write_metadata_folder(tmp_path, fashion.train, 30)
    (tmp_path / "images" / "00003.png").unlink()
    save(fashion.train.pixels[50], tmp_path / "images" / "extra.png")
    (tmp_path / "images" / "bad.png").write_bytes(b"\x89PNG broken")
    rewrite_csv(tmp_path / "metadata.csv", lambda rows: rows[7].__setitem__(1, "maybe"))

    message = problems(tmp_path, min_train_images=64)

    assert message.startswith(f"{tmp_path}: 5 problems; nothing was trained:")
    for says in ("not binary", "not images here", "no metadata row", "cannot be read", "batch"):
        assert says in message


def test_the_command_line_prints_the_problems_without_a_traceback(
    fashion: DatasetSplits, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_unlabeled(tmp_path / "images", fashion.train, 30)
    write_bad_images(tmp_path / "images")
    argv = ["train", "--name", "bad", "--dataset", "folder", "--data-dir", str(tmp_path / "images")]
    runs = tmp_path / "runs"

    status = main([*argv, "--runs-dir", str(runs), "--models-dir", str(tmp_path / "models")])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {tmp_path / 'images'}: 2 problems; nothing was trained:")
    assert "cut.jpg" in err and "Traceback" not in err
    assert not runs.exists() and not (tmp_path / "models").exists()
    assert any((tmp_path / "cache").glob("*/*.u8"))  # decoded all the same, for the next run
