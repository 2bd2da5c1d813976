"""The faces writer: deterministic files on any number of workers, CelebA's lists and layouts."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from training.datasets.celeba import CELEBA_ATTRIBUTES, CelebaLayoutName
from training.errors import ConfigError
from training.faces.records import sample_face
from training.faces.writer import generate_faces

pytestmark = pytest.mark.unit


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
