"""A folder of your own images as a dataset: `--dataset folder --data-dir PATH`.

The layout is detected, in this order:

- **Splits.** With a `train/` subfolder, `train/`, `val/` (or `validation/`) and `test/` are the
  splits, and a missing `val/` or `test/` is drawn from `train/` (10% each). Without one, the
  whole folder is drawn 80/10/10. Draws are seeded (`split_seed`) and recorded in the card.
- **Labels**, the same in every split folder (or in the folder itself):
  - a `metadata.csv` or `metadata.jsonl` (Hugging Face's `imagefolder`; see `metadata.py`): its
    binary columns are attributes, CelebA-style;
  - else, when no image lies directly in it: one subfolder per class (torchvision's
    `ImageFolder`, images at any depth below), Fashion-MNIST-style;
  - else (every image directly in it): no labels, and so no attribute vectors.

Images are the files with an `IMAGE_SUFFIXES` ending; names starting with `.` or `__` (hidden,
`__MACOSX`) are skipped. Any size and mode: the `Preprocessing` makes them square (`fit`: centre
crop or pad), `channels` deep (default: 1 if every image is grayscale, else 3) and `image_size`
wide, exactly as the service does to uploads. Decoded pixels are cached (`cache.py`).

Every problem with the data (see `load_folder`) is collected and raised as one `DatasetInvalid`
before training starts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.datasets.cache import Decoded, ImageFile, PixelCache
from training.datasets.metadata import METADATA_NAMES, MetadataTable, binary_values, read_metadata
from training.datasets.problems import Problems
from training.datasets.splits import DatasetSplits, LabeledImages, LoadOptions
from training.errors import ConfigError, DatasetInvalid, DatasetNotFound
from training.vocabulary import Fit
from vae_core.bundle import DatasetCard, SplitCard
from vae_core.preprocess import Preprocessing
from vae_core.vocabulary import Crop, FolderLayout, LabelKind, SplitSource

IMAGE_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm",
)  # fmt: skip
SPLITS = ("train", "val", "test")
SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}
HELD_OUT = 0.1  # the share of a drawn val or test split
FOLDER_DEFAULT_IMAGE_SIZE = 64
FOLDER_IMAGE_SIZES = range(8, 1025)  # the model's side also needs one halving per conv width
CROPS: dict[Fit, Crop] = {"crop": "center_square", "pad": "pad_square"}


def load_folder(root: Path | None, image_size: int, options: LoadOptions) -> DatasetSplits:
    """The splits of the folder `root`, decoded (or mapped from the cache) at `image_size`.

    Raises DatasetNotFound for a missing folder, and one DatasetInvalid listing every problem:
    no images, split folders that cannot be told apart, images outside the split folders, a class
    folder with no images or only one class, metadata rows that cannot be read, name a missing
    file or repeat one, values that are not binary, an attribute with one value only, an image
    with no metadata row, unreadable images (unless `options.skip_bad_images`), and a split too
    small to train on (fewer training images than `options.min_train_images`, an empty val or
    test split).
    """
    root = find_folder(root)
    listing = list_images(root)
    if not listing:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise DatasetInvalid(f"{root}: no images (files ending in {suffixes}) in it or below it")
    problems = Problems(root)
    plan = plan_splits(root, listing, options.split_seed, problems)
    labels = read_labels(root, plan, listing, problems)
    cache = PixelCache(options.cache_dir, root, listing)
    paths = [file.path for file in listing]
    channels = options.channels or (1 if cache.all_grayscale(paths, options.workers) else 3)
    preprocessing = folder_preprocessing(image_size, channels, options.fit)
    ordered = [file for split in SPLITS for file in plan.files[split]]
    decoded = cache.decoded(ordered, preprocessing, options.workers)
    if decoded.unreadable and not options.skip_bad_images:
        problems.add_all(
            f"{len(decoded.unreadable)} images cannot be read (leave them out with "
            "--skip-bad-images):",
            [f"{path}: {reason}" for path, reason in sorted(decoded.unreadable.items())],
            limit=None,
        )
    used = {split: _readable(plan.files[split], decoded) for split in SPLITS}
    _check_sizes(used, options.min_train_images, problems)
    problems.raise_if_any()
    return _splits(plan, labels, used, decoded, preprocessing, options.split_seed)


def find_folder(root: Path | None) -> Path:
    if root is None:
        raise DatasetNotFound("--dataset folder needs --data-dir PATH: a folder of images")
    if not root.is_dir():
        raise DatasetNotFound(f"{root} is not a folder")
    return root


def folder_preprocessing(image_size: int, channels: int, fit: Fit) -> Preprocessing:
    """Square (`fit`), `channels` deep, `image_size` wide."""
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}")
    return Preprocessing(
        color_mode="L" if channels == 1 else "RGB",
        crop=CROPS[fit],
        resize=(image_size, image_size),
        pad=0,
    )


def list_images(root: Path) -> list[ImageFile]:
    """Every image file in `root` and below, sorted by path; each folder visited once, however
    many links lead to it."""
    found: list[ImageFile] = []
    pending, seen = [""], set()
    while pending:
        prefix = pending.pop()
        try:
            status = (root / prefix).stat()
            if (status.st_dev, status.st_ino) in seen:
                continue
            seen.add((status.st_dev, status.st_ino))
            with os.scandir(root / prefix) as entries:
                for entry in entries:
                    if entry.name.startswith((".", "__")):
                        continue
                    if entry.is_dir():
                        pending.append(f"{prefix}{entry.name}/")
                    elif entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file():
                        stat = entry.stat()
                        found.append(ImageFile(prefix + entry.name, stat.st_size, stat.st_mtime_ns))
        except OSError as exc:
            raise DatasetInvalid(f"{root / prefix}: cannot be listed ({exc.strerror})") from None
    return sorted(found, key=_path)


# ---------------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class SplitPlan:
    """The images of each split (sorted by path), where each came from, and the folders the
    labels are read in: the split folders, or the folder itself ("")."""

    files: dict[str, list[ImageFile]]
    sources: dict[str, SplitSource]
    label_roots: list[str]


def plan_splits(root: Path, listing: list[ImageFile], seed: int, problems: Problems) -> SplitPlan:
    """Split folders when there is a train/, else an 80/10/10 draw of the whole folder."""
    folders = split_folders(root)
    if not folders:
        return SplitPlan(
            _draw(listing, ["val", "test"], seed), dict.fromkeys(SPLITS, "seeded"), [""]
        )
    prefixes = {split: f"{name}/" for split, name in folders.items()}
    files = {split: [f for f in listing if f.path.startswith(p)] for split, p in prefixes.items()}
    outside = [f.path for f in listing if not f.path.startswith(tuple(prefixes.values()))]
    if outside:
        inside = ", ".join(prefixes.values())
        problems.add_all(f"{len(outside)} images lie outside the split folders {inside}:", outside)
    missing = [split for split in ("val", "test") if split not in folders]
    drawn = _draw(files["train"], missing, seed) if missing else {"train": files["train"]}
    sources: dict[str, SplitSource] = {s: "seeded" if s in missing else "folder" for s in SPLITS}
    return SplitPlan(files | drawn, sources, list(prefixes.values()))


def split_folders(root: Path) -> dict[str, str]:
    """The split folders under `root` (split -> folder name); {} when there is no train/.
    DatasetInvalid when val/ or test/ come without train/, or val/ beside validation/."""
    names = {entry.name for entry in os.scandir(root) if entry.is_dir()}
    found: dict[str, str] = {}
    for split, candidates in SPLIT_FOLDERS.items():
        present = [name for name in candidates if name in names]
        if len(present) > 1:
            raise DatasetInvalid(f"{root}: both {' and '.join(present)}/; keep one")
        if present:
            found[split] = present[0]
    if found and "train" not in found:
        listed = " and ".join(f"{name}/" for name in found.values())
        raise DatasetInvalid(
            f"{root}: {listed} without train/; add train/ (the split folders), or rename them "
            "if they are classes"
        )
    return found


def _draw(files: list[ImageFile], held_out: list[str], seed: int) -> dict[str, list[ImageFile]]:
    """`held_out` splits of HELD_OUT of the files each (at least one), the rest "train"."""
    order = np.random.default_rng(seed).permutation(len(files))
    size = max(1, round(HELD_OUT * len(files)))
    parts = {split: order[i * size : (i + 1) * size] for i, split in enumerate(held_out)}
    parts["train"] = order[len(held_out) * size :]
    # `files` are sorted by path, so sorting the indices sorts each split by path
    return {split: [files[i] for i in np.sort(index)] for split, index in parts.items()}


def _path(file: ImageFile) -> str:
    return file.path


# ---------------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class FolderLabels:
    """The labels of a folder's images: by class folder, by metadata row, or none."""

    layout: FolderLayout
    kind: LabelKind
    names: list[str]
    classes: dict[str, int]  # class_folders: the folder below a label root -> class index
    rows: dict[str, int]  # metadata: image path -> row of `flags`
    flags: np.ndarray  # metadata: bool [rows, attributes]

    def of(self, paths: Sequence[str], label_roots: Sequence[str]) -> np.ndarray:
        """int64 [N] class indices, or bool [N, K] attribute flags (K = 0 without labels)."""
        if self.layout == "class_folders":
            return np.array([self.classes[_class_of(p, label_roots)] for p in paths], np.int64)
        if self.layout == "metadata":
            return self.flags[[self.rows[path] for path in paths]].reshape(len(paths), -1)
        return np.zeros((len(paths), 0), dtype=bool)


def read_labels(
    root: Path, plan: SplitPlan, listing: list[ImageFile], problems: Problems
) -> FolderLabels:
    """The labels of the detected layout; problems with them are added to `problems`."""
    metadata = [
        (label_root, root / label_root / name)
        for label_root in dict.fromkeys(["", *plan.label_roots])
        for name in METADATA_NAMES
        if (root / label_root / name).is_file()
    ]
    if metadata:
        return _metadata_labels(metadata, listing, problems)
    in_roots = [f.path for f in listing if "/" not in f.path.removeprefix(_root_of(f.path, plan))]
    if len(in_roots) == len(listing):
        return FolderLabels("unlabeled", "none", [], {}, {}, np.zeros((0, 0), bool))
    if in_roots:
        problems.add_all(
            f"{len(in_roots)} images lie beside class folders; move them into one, or put every "
            "image directly in the folder to train without labels:",
            in_roots,
        )
    return _class_labels(root, plan, listing, problems)


def _root_of(path: str, plan: SplitPlan) -> str:
    return next((r for r in plan.label_roots if r and path.startswith(r)), "")


def _class_of(path: str, label_roots: Sequence[str]) -> str:
    label_root = next((r for r in label_roots if r and path.startswith(r)), "")
    return path[len(label_root) :].split("/", 1)[0]


def _class_labels(
    root: Path, plan: SplitPlan, listing: list[ImageFile], problems: Problems
) -> FolderLabels:
    """One class per folder of train/ (or of the folder itself); the other split folders may
    hold some of those classes and no other."""
    filled = {  # (label root, class folder) of every image below a class folder
        (label_root, path.split("/", 1)[0])
        for file in listing
        for label_root in [_root_of(file.path, plan)]
        for path in [file.path.removeprefix(label_root)]
        if "/" in path
    }
    train_root = plan.label_roots[0]
    names = sorted(name for label_root, name in filled if label_root == train_root)
    for label_root in plan.label_roots:
        folders = sorted(
            entry.name
            for entry in os.scandir(root / label_root)
            if entry.is_dir() and not entry.name.startswith((".", "__"))
        )
        empty = [f"{label_root}{name}/" for name in folders if (label_root, name) not in filled]
        if empty:
            problems.add_all(f"{len(empty)} class folders hold no images:", empty)
        unknown = [f"{label_root}{name}/" for name in folders if name not in names]
        if label_root != train_root and unknown:
            problems.add_all(f"{len(unknown)} class folders are not in {train_root}:", unknown)
    if len(names) == 1:
        problems.add(
            f"one class folder only ({names[0]}/): attribute vectors need two classes or more; "
            "put the images directly in the folder to train without labels"
        )
    return FolderLabels(
        "class_folders", "class", names, {n: i for i, n in enumerate(names)}, {}, np.zeros(0)
    )


def _metadata_labels(
    files: list[tuple[str, Path]], listing: list[ImageFile], problems: Problems
) -> FolderLabels:
    """Attributes from the metadata files; every image needs exactly one row."""
    table: MetadataTable | None = None
    for label_root, path in files:
        if path.suffix == ".csv" and path.with_suffix(".jsonl").is_file():
            problems.add(f"{label_root}{path.name} and {path.stem}.jsonl: keep one")
            continue
        part = read_metadata(path, label_root, problems)
        if table is None:
            table = part
        elif part.columns != table.columns and len(part):
            problems.add(f"{label_root}{path.name} has columns {part.columns}, not {table.columns}")
        else:
            table.extend(part)
    if table is None:  # not reached: a .csv is skipped only beside its .jsonl
        table = MetadataTable(columns=[])
    flags = binary_values(table, problems)
    rows = _rows_by_path(table, problems)
    images = {file.path for file in listing}
    unknown = [f"{table.wheres[r]}: {path}" for path, r in rows.items() if path not in images]
    if unknown:
        problems.add_all(f"{len(unknown)} rows name files that are not images here:", unknown)
    unlisted = [file.path for file in listing if file.path not in rows]
    if unlisted:
        problems.add_all(f"{len(unlisted)} images have no metadata row:", unlisted)
    kind: LabelKind = "attribute" if table.columns else "none"
    return FolderLabels("metadata", kind, table.columns, {}, rows, flags)


def _rows_by_path(table: MetadataTable, problems: Problems) -> dict[str, int]:
    rows: dict[str, int] = {}
    repeated: list[str] = []
    for row, path in enumerate(table.paths):
        if path in rows:
            repeated.append(f"{path}: {table.wheres[rows[path]]} and {table.wheres[row]}")
        else:
            rows[path] = row
    if repeated:
        problems.add_all(f"{len(repeated)} images have more than one metadata row:", repeated)
    return rows


# ---------------------------------------------------------------------------------- assembly


def _readable(files: list[ImageFile], decoded: Decoded) -> list[ImageFile]:
    return [file for file in files if file.path not in decoded.unreadable]


def _check_sizes(used: dict[str, list[ImageFile]], min_train: int, problems: Problems) -> None:
    if len(used["train"]) < min_train:
        problems.add(
            f"the training split has {len(used['train'])} images, fewer than one batch "
            f"({min_train}): add images or lower --batch-size"
        )
    for split in ("val", "test"):
        if not used[split]:
            problems.add(
                f"the {split} split has no images: training needs one to measure the model"
            )


def _splits(
    plan: SplitPlan,
    labels: FolderLabels,
    used: dict[str, list[ImageFile]],
    decoded: Decoded,
    preprocessing: Preprocessing,
    seed: int,
) -> DatasetSplits:
    """The splits as slices of the decoded pixels (train, val, test in a row), with their card."""
    split_images: dict[str, LabeledImages] = {}
    start = 0
    for split in SPLITS:
        paths = [file.path for file in used[split]]
        pixels = decoded.pixels[start : start + len(paths)]
        split_images[split] = LabeledImages(
            pixels, labels.of(paths, plan.label_roots), labels.names, labels.kind
        )
        start += len(paths)
    card = DatasetCard(
        layout=labels.layout,
        splits={
            split: SplitCard(
                images=len(images),
                source=plan.sources[split],
                label_counts=_label_counts(images),
            )
            for split, images in split_images.items()
        },
        split_seed=seed,
        skipped_images=len(decoded.unreadable),
        files_sha256=_files_sha256([file for split in SPLITS for file in used[split]]),
    )
    return DatasetSplits(
        "folder",
        split_images["train"],
        split_images["val"],
        split_images["test"],
        preprocessing,
        card,
    )


def _label_counts(images: LabeledImages) -> dict[str, int]:
    counts = images.has_label().sum(axis=0)
    return {name: int(count) for name, count in zip(images.label_names, counts, strict=True)}


def _files_sha256(files: list[ImageFile]) -> str:
    digest = hashlib.sha256()
    for file in sorted(files, key=_path):
        digest.update(f"{file.path}\t{file.size}\n".encode())
    return digest.hexdigest()
