"""The latent map: held-out images' codes laid out on a plane, so a person can see the latent space,
and any code placed on it. Optional in a bundle; written at export, or added to an existing bundle
(`python -m training map MODEL_DIR`):

  latent_map.json  the codes (float16), their 2-D positions, labels, the projection, statistics
  latent_map.webp  the same images as thumbnails, one grid cell per point, row-major

A position is `(z - mean) @ components[:2].T`. For a latent of at most 2 dimensions the projection
is the identity (mean 0, components I), so the map is the latent plane itself; otherwise it is PCA
of the map's codes, keeping the leading MAX_COMPONENTS components (a client may move a code along
them) with the codes' spread along each (`scale`).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, ValidationError

from vae_core.errors import BundleInvalid, first_error
from vae_core.files import write_bytes_atomic
from vae_core.frozen import Record
from vae_core.vocabulary import LabelKind, ProjectionKind

LATENT_MAP = "latent_map.json"
LATENT_MAP_SPRITE = "latent_map.webp"
SPRITE_MEDIA_TYPE: Literal["image/webp"] = "image/webp"
MAX_POINTS = 5000  # held-out images on a map
MAX_COMPONENTS = 8  # principal components kept
MAX_THUMBNAIL = 32  # pixels on a thumbnail's longer side; larger images are box-reduced
# Lossy WebP: 5,000 Fashion-MNIST thumbnails in ~0.8 MiB (PNG: 2 MiB), artefacts invisible at 3x.
SPRITE_QUALITY = 70
NEIGHBOUR_BLOCK = 64  # query codes per distance matrix: bounds its memory


class PackedArray(Record):
    """A numeric array as little-endian bytes in base64: a quarter of the size of JSON numbers."""

    dtype: Literal["float16", "float32"]
    shape: list[int] = Field(min_length=2, max_length=2)
    data: str

    def array(self) -> np.ndarray:
        """The values as float32; ValueError if the bytes do not match the shape."""
        try:
            raw = base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("data is not valid base64") from None
        dtype = np.dtype(self.dtype).newbyteorder("<")
        if len(raw) != dtype.itemsize * math.prod(self.shape):
            raise ValueError(f"{len(raw)} bytes do not hold {self.dtype} {self.shape}")
        return np.frombuffer(raw, dtype=dtype).reshape(self.shape).astype(np.float32)

    @classmethod
    def pack(cls, array: np.ndarray, dtype: Literal["float16", "float32"]) -> PackedArray:
        data = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
        return cls(dtype=dtype, shape=list(array.shape), data=base64.b64encode(data).decode())


class ProjectionRecord(Record):
    kind: ProjectionKind
    mean: list[float] = Field(description="[D]: subtracted before projecting.")
    components: list[list[float]] = Field(
        description="[K, D], orthonormal rows; the first two place a code on the map."
    )
    scale: list[float] = Field(description="[K]: standard deviation of the codes along each.")
    explained_variance_ratio: list[float] = Field(description="[K]: share of the codes' variance.")


class MapLabels(Record):
    kind: LabelKind
    names: list[str]
    values: list[list[int]] = Field(
        description="Per point, the indices (into names) of its labels: one class, or the "
        "attributes it has."
    )


class SpriteLayout(Record):
    media_type: Literal["image/webp"] = SPRITE_MEDIA_TYPE
    thumb_width: int = Field(ge=1, le=MAX_THUMBNAIL)
    thumb_height: int = Field(ge=1, le=MAX_THUMBNAIL)
    columns: int = Field(ge=1, description="Point i is in row i // columns, column i % columns.")


class LatentMapRecord(Record):
    """latent_map.json."""

    schema_version: Literal[1] = 1
    split: str = Field(description="The held-out split the images come from; point i is its i-th.")
    latent_dim: int = Field(ge=1)
    codes: PackedArray = Field(description="z_mean of each point, [N, D], float16.")
    positions: PackedArray = Field(description="[N, 2], float32: the codes projected.")
    labels: MapLabels
    projection: ProjectionRecord
    code_mean: list[float] = Field(description="[D]: mean of the codes per dimension.")
    code_std: list[float] = Field(description="[D]: their standard deviation per dimension.")
    sprite: SpriteLayout


class LatentMapInfo(Record):
    """The manifest's summary of the bundle's latent map (files latent_map.json and .webp)."""

    points: int = Field(ge=1, le=MAX_POINTS)
    projection: ProjectionKind
    split: str


@dataclass(frozen=True)
class Projection:
    """Codes [N, D] to map positions [N, 2]: `(z - mean) @ components[:2].T`."""

    kind: ProjectionKind
    mean: np.ndarray  # [D]
    components: np.ndarray  # [K, D]
    scale: np.ndarray  # [K]
    explained_variance_ratio: np.ndarray  # [K]

    def place(self, z: np.ndarray) -> np.ndarray:
        centred = z.astype(np.float32) - self.mean.astype(np.float32)
        return (centred @ self.components[:2].T.astype(np.float32)).astype(np.float32)

    def record(self) -> ProjectionRecord:
        return ProjectionRecord(
            kind=self.kind,
            mean=self.mean.tolist(),
            components=self.components.tolist(),
            scale=self.scale.tolist(),
            explained_variance_ratio=self.explained_variance_ratio.tolist(),
        )


def fit_projection(codes: np.ndarray) -> Projection:
    """The identity for a latent of at most 2 dimensions (a 1-d one is drawn on y = 0), else PCA of
    `codes`, each component's sign fixed so its largest entry is positive (deterministic)."""
    count, dim = codes.shape
    codes64 = codes.astype(np.float64)
    if dim <= 2:
        components = np.eye(2, dim)
        spread = (codes64 @ components.T).std(axis=0)
        variance = spread**2
        ratio = variance / variance.sum() if variance.sum() > 0 else np.zeros(2)
        return Projection("identity", np.zeros(dim), components, spread, ratio)
    mean = codes64.mean(axis=0)
    _, singular, vt = np.linalg.svd(codes64 - mean, full_matrices=False)
    kept = min(MAX_COMPONENTS, dim, len(singular))
    components = vt[:kept]
    signs = np.sign(components[np.arange(kept), np.abs(components).argmax(axis=1)])
    components = components * signs[:, None]
    variance = singular**2 / count
    ratio = variance / variance.sum() if variance.sum() > 0 else np.zeros_like(variance)
    return Projection("pca", mean, components, np.sqrt(variance[:kept]), ratio[:kept])


@dataclass(frozen=True)
class LatentMap:
    """A bundle's latent map, read and checked: codes, positions and labels of its points, the
    projection, and the thumbnail sprite's bytes."""

    split: str
    codes: np.ndarray  # [N, D] float32 (stored as float16)
    positions: np.ndarray  # [N, 2] float32
    labels: MapLabels
    projection: Projection
    code_mean: np.ndarray  # [D]
    code_std: np.ndarray  # [D]
    sprite: bytes
    layout: SpriteLayout

    @property
    def count(self) -> int:
        return len(self.codes)

    def place(self, z: np.ndarray) -> np.ndarray:
        """Map positions [N, 2] of codes [N, D]."""
        return self.projection.place(z)

    def nearest(self, z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k map points nearest each code in code space (Euclidean), nearest first, ties by
        index: (indices [N, k'], distances [N, k']), k' = min(k, count)."""
        k = min(k, self.count)
        codes = self.codes.astype(np.float64)
        squared_norms = (codes**2).sum(axis=1)
        indices, distances = [], []
        for start in range(0, len(z), NEIGHBOUR_BLOCK):
            block = z[start : start + NEIGHBOUR_BLOCK].astype(np.float64)
            # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, in float64: exact enough to rank by, and no
            # [block, N, D] temporary.
            squared = (block**2).sum(axis=1)[:, None] + squared_norms[None, :] - 2 * block @ codes.T
            squared = np.maximum(squared, 0.0)
            for row in squared:
                order = np.lexsort((np.arange(len(row)), row))[:k]
                indices.append(order)
                distances.append(np.sqrt(row[order]))
        shape = (len(z), k)
        return (
            np.asarray(indices, dtype=np.int64).reshape(shape),
            np.asarray(distances, dtype=np.float64).reshape(shape),
        )

    def info(self) -> LatentMapInfo:
        return LatentMapInfo(points=self.count, projection=self.projection.kind, split=self.split)


def build_latent_map(
    codes: np.ndarray,
    has_label: np.ndarray,
    label_names: list[str],
    label_kind: LabelKind,
    pixels: np.ndarray,
    split: str,
) -> tuple[LatentMapRecord, bytes]:
    """The map of held-out images: their z_mean [N, D], labels (bool [N, K]) and uint8 pixels
    [N, H, W(, 3)], at most MAX_POINTS. The codes are stored as float16, and the projection is
    fitted to and applied on the stored values, so positions are exactly the stored codes placed.
    Returns latent_map.json's record and the sprite's bytes."""
    if not 1 <= len(codes) <= MAX_POINTS or not len(codes) == len(has_label) == len(pixels):
        raise ValueError(f"a map holds 1 to {MAX_POINTS} points with one label row and image each")
    stored = codes.astype(np.float16).astype(np.float32)
    projection = fit_projection(stored)
    sprite, layout = thumbnail_sprite(pixels)
    record = LatentMapRecord(
        split=split,
        latent_dim=codes.shape[1],
        codes=PackedArray.pack(stored, "float16"),
        positions=PackedArray.pack(projection.place(stored), "float32"),
        labels=MapLabels(
            kind=label_kind,
            names=label_names,
            values=[np.flatnonzero(row).tolist() for row in has_label],
        ),
        projection=projection.record(),
        code_mean=stored.mean(axis=0, dtype=np.float64).tolist(),
        code_std=stored.std(axis=0, dtype=np.float64).tolist(),
        sprite=layout,
    )
    return record, sprite


def thumbnail_sprite(pixels: np.ndarray) -> tuple[bytes, SpriteLayout]:
    """uint8 images [N, H, W(, 3)] -> one WebP with a cell per image (box-reduced to at most
    MAX_THUMBNAIL pixels a side), in a near-square grid, and its layout."""
    count, height, width = pixels.shape[:3]
    factor = math.ceil(max(height, width) / MAX_THUMBNAIL)
    thumb_h, thumb_w = math.ceil(height / factor), math.ceil(width / factor)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    sheet = np.zeros((rows * thumb_h, columns * thumb_w, *pixels.shape[3:]), np.uint8)
    for i, image in enumerate(pixels):
        thumb = Image.fromarray(image)
        if factor > 1:
            thumb = thumb.reduce(factor)
        row, column = divmod(i, columns)
        sheet[row * thumb_h : (row + 1) * thumb_h, column * thumb_w : (column + 1) * thumb_w] = (
            np.asarray(thumb)
        )
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="WEBP", quality=SPRITE_QUALITY, method=6)
    return buffer.getvalue(), SpriteLayout(
        thumb_width=thumb_w, thumb_height=thumb_h, columns=columns
    )


def write_latent_map(directory: Path, record: LatentMapRecord, sprite: bytes) -> None:
    """Write latent_map.json and the sprite into a bundle folder (the manifest is the caller's)."""
    write_bytes_atomic(directory / LATENT_MAP_SPRITE, sprite)
    write_bytes_atomic(directory / LATENT_MAP, record.model_dump_json().encode())


def read_latent_map(directory: Path, latent_dim: int) -> LatentMap:
    """Read and check a bundle's map; BundleInvalid names the file and the reason."""
    path = directory / LATENT_MAP
    try:
        record = LatentMapRecord.model_validate_json(path.read_bytes())
        codes, positions = record.codes.array(), record.positions.array()
        projection = _projection(record.projection)  # ValueError if its lists are ragged
        sprite = (directory / LATENT_MAP_SPRITE).read_bytes()
    except ValidationError as exc:
        raise BundleInvalid(f"{path}: {first_error(exc)}") from None
    except ValueError as exc:
        raise BundleInvalid(f"{path}: {exc}") from None
    except OSError as exc:
        raise BundleInvalid(f"{exc.filename}: {exc.strerror}") from None
    problem = _inconsistency(record, codes, positions, projection, latent_dim) or _sprite_problem(
        sprite, record.sprite, len(codes)
    )
    if problem:
        raise BundleInvalid(f"{path}: {problem}")
    return LatentMap(
        split=record.split,
        codes=codes,
        positions=positions,
        labels=record.labels,
        projection=projection,
        code_mean=np.asarray(record.code_mean, np.float32),
        code_std=np.asarray(record.code_std, np.float32),
        sprite=sprite,
        layout=record.sprite,
    )


def _projection(record: ProjectionRecord) -> Projection:
    return Projection(
        kind=record.kind,
        mean=np.asarray(record.mean, np.float64),
        components=np.asarray(record.components, np.float64),
        scale=np.asarray(record.scale, np.float64),
        explained_variance_ratio=np.asarray(record.explained_variance_ratio, np.float64),
    )


def _inconsistency(
    record: LatentMapRecord,
    codes: np.ndarray,
    positions: np.ndarray,
    projection: Projection,
    latent_dim: int,
) -> str | None:
    """What in the record contradicts itself or the bundle, or None."""
    count, dim = codes.shape
    components, labels = projection.components, record.labels
    checks = [
        (
            record.latent_dim == dim == latent_dim,
            f"codes have {dim} dimensions, the model {latent_dim}",
        ),
        (1 <= count <= MAX_POINTS, f"{count} points; a map holds 1 to {MAX_POINTS}"),
        (
            positions.shape == (count, 2) and len(labels.values) == count,
            f"positions {list(positions.shape)} and {len(labels.values)} labels for {count} codes",
        ),
        (
            components.ndim == 2 and 2 <= len(components) <= MAX_COMPONENTS,
            f"the projection needs 2 to {MAX_COMPONENTS} components",
        ),
        (
            components.shape[-1] == dim == len(projection.mean),
            "the projection's mean or components do not match the codes",
        ),
        (
            len(projection.scale) == len(projection.explained_variance_ratio) == len(components),
            "the projection's scale and variance ratios need one value per component",
        ),
        (
            len(record.code_mean) == dim == len(record.code_std),
            "code_mean and code_std need one value per dimension",
        ),
        (
            all(0 <= label < len(labels.names) for value in labels.values for label in value),
            f"a label index is outside the {len(labels.names)} label names",
        ),
        (
            bool(np.isfinite(codes).all() and np.isfinite(positions).all()),
            "codes and positions must be finite",
        ),
    ]
    return next((problem for holds, problem in checks if not holds), None)


def _sprite_problem(sprite: bytes, layout: SpriteLayout, count: int) -> str | None:
    """Whether the sprite is a WebP image with a cell for every point (its header alone is read)."""
    try:
        with Image.open(io.BytesIO(sprite), formats=["WEBP"]) as image:
            width, height = image.size
    except Exception:  # Pillow raises many types on a corrupt file
        return f"{LATENT_MAP_SPRITE} is not a WebP image"
    rows = math.ceil(count / layout.columns)
    if width < layout.columns * layout.thumb_width or height < rows * layout.thumb_height:
        return f"{LATENT_MAP_SPRITE} is {width}x{height}, too small for {count} thumbnails"
    return None
