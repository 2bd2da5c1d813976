"""Attribute vectors of a model: the bundle's built-in ones (read-only) plus custom ones that users
compute from example images, stored in the data directory as
`<data_dir>/<model>/attributes/<name>.json`.

Custom vectors are read from disk on every lookup (one small file), never cached, so replicas that
share the data volume, and a model reloaded in place, all see the same set. They are written
atomically (a temporary file, fsync, rename): a writer killed at any moment leaves the old vector
or the new one, never a torn file, at worst plus a hidden `.<name>.json.<id>.tmp` that is never
read as a vector and is deleted at a later start-up.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from service.errors import AttributeNotFound, Conflict, InvalidInput, NotConfigured
from service.schemas.fields import CUSTOM_NAME, CUSTOM_NAME_PATTERN
from vae_core.bundle import AttributeVector
from vae_core.files import remove_stale_temporaries, write_json_atomic
from vae_core.graphs import OnnxAutoencoder
from vae_core.latent import attribute_record

logger = logging.getLogger("vae_serve.attributes")

# A temporary file this old belongs to no live writer (a write takes milliseconds): delete it. A
# younger one may be another worker's or replica's write in progress.
ORPHAN_AGE_S = 3600.0
FOLDER = "attributes"  # <data_dir>/<model>/attributes/<name>.json


class CustomVectorFile(BaseModel):
    """One custom vector on disk, tied to the encoder whose latent space it lives in."""

    model_config = ConfigDict(extra="forbid")

    vector: AttributeVector
    encoder_sha256: str
    created_at: str


def valid_name(name: str) -> bool:
    return re.fullmatch(CUSTOM_NAME, name, flags=re.ASCII) is not None


def from_examples(name: str, z_mean: np.ndarray, positive: int) -> AttributeVector:
    """The training method (mean code with the attribute minus mean code without it) applied to
    examples: the first `positive` rows of z_mean have the attribute, the rest do not."""
    has_attribute = np.arange(len(z_mean)) < positive
    return attribute_record(name, z_mean, has_attribute, custom=True)


class AttributeStore:
    """Looks up built-in and custom vectors; writes custom ones atomically. Built once at start-up,
    when it deletes the temporary files that writers killed mid-write left behind."""

    def __init__(self, data_dir: Path | None):
        self._data_dir = data_dir
        self.remove_orphans()

    def remove_orphans(self) -> None:
        """Delete temporary files older than ORPHAN_AGE_S from every model's custom folder."""
        if self._data_dir is None:
            return
        for folder in self._data_dir.glob(f"*/{FOLDER}"):
            for path in remove_stale_temporaries(folder, ORPHAN_AGE_S):
                logger.warning("deleted %s, left by an interrupted write", path)

    def all(self, model: OnnxAutoencoder) -> list[AttributeVector]:
        return [*model.attributes.values(), *self._customs(model)]

    def get(self, model: OnnxAutoencoder, name: str) -> AttributeVector:
        if name in model.attributes:
            return model.attributes[name]
        custom = self._read(model, name) if valid_name(name) else None
        if custom is None:
            raise AttributeNotFound(
                f"model {model.name!r} has no attribute {name!r}",
                detail={"attributes": [vector.name for vector in self.all(model)]},
            )
        return custom

    def put(self, model: OnnxAutoencoder, vector: AttributeVector) -> bool:
        """Store (or replace) a custom vector; True if it is new."""
        self.check_writable(model, vector.name)
        path = self._path(model, vector.name)
        created = not path.exists()
        record = CustomVectorFile(
            vector=vector,
            encoder_sha256=model.encoder_sha256,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, record.model_dump())
        except OSError as exc:
            raise NotConfigured(
                f"cannot write custom vectors to the data directory: {exc.strerror}"
            ) from None
        return created

    def delete(self, model: OnnxAutoencoder, name: str) -> None:
        self.check_writable(model, name)
        try:
            self._path(model, name).unlink()
        except FileNotFoundError:
            raise AttributeNotFound(
                f"model {model.name!r} has no custom attribute {name!r}"
            ) from None

    def check_writable(self, model: OnnxAutoencoder, name: str) -> None:
        """Raise unless `name` may be created, replaced or deleted as a custom vector."""
        if name in model.attributes:
            raise Conflict(f"{name!r} is a built-in attribute of {model.name!r}; it is read-only")
        if not valid_name(name):
            raise InvalidInput(
                f"{name!r} is not a valid custom attribute name ({CUSTOM_NAME_PATTERN})"
            )
        if self._data_dir is None:
            raise NotConfigured(
                "custom attribute vectors need a writable data directory: "
                "set VAE_SERVE_DATA_DIR (or --data-dir)"
            )

    def _customs(self, model: OnnxAutoencoder) -> list[AttributeVector]:
        if self._data_dir is None:
            return []
        folder = self._data_dir / model.name / FOLDER
        names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        wanted = [name for name in names if valid_name(name) and name not in model.attributes]
        vectors = (self._read(model, name) for name in wanted)
        return [vector for vector in vectors if vector is not None]

    def _read(self, model: OnnxAutoencoder, name: str) -> AttributeVector | None:
        if self._data_dir is None:
            return None
        path = self._path(model, name)
        try:
            record = CustomVectorFile.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            logger.warning("ignoring unreadable custom vector %s: %s", path, exc)
            return None
        if record.encoder_sha256 != model.encoder_sha256 or len(record.vector.vector) != (
            model.latent_dim
        ):
            logger.warning("ignoring custom vector %s: made with another encoder", path)
            return None
        return record.vector

    def _path(self, model: OnnxAutoencoder, name: str) -> Path:
        assert self._data_dir is not None and valid_name(name), name
        return self._data_dir / model.name / FOLDER / f"{name}.json"
