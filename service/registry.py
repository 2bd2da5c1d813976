"""The models being served: bundles discovered in the model directory, validated, loaded and warmed
at start-up, and reloaded on demand. A broken bundle is kept as `Unavailable` with its reason; a
model being replaced keeps serving its old version until the new one has been validated."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from service import bundle
from service.errors import BundleInvalid, ModelNotFound, ModelUnavailable
from service.runtime import Model

logger = logging.getLogger("vae_serve.registry")

ReloadOutcome = Literal["added", "replaced", "unchanged", "removed", "kept_previous", "unavailable"]


@dataclass(frozen=True)
class Unavailable:
    """A bundle that failed validation: it is listed, and requests to it get 503."""

    name: str
    reason: str


@dataclass(frozen=True)
class Loaded:
    model: Model
    manifest_sha256: str  # a changed model.json means a new version of the bundle
    reload_error: str | None = None  # set when a newer version on disk failed validation


Entry = Loaded | Unavailable


@dataclass(frozen=True)
class ReloadResult:
    name: str
    outcome: ReloadOutcome
    reason: str | None = None


class ModelRegistry:
    """Name -> loaded model or reason it is unavailable. Reads take a snapshot of an immutable
    dict; reloads build a new dict and swap it in whole."""

    def __init__(self, model_dir: Path, load: Callable[[Path], Model]):
        self._model_dir = model_dir
        self._load = load
        self._entries: dict[str, Entry] = {}
        self._loaded = False
        self._reload_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """True once loading has finished and at least one model serves."""
        return self._loaded and any(isinstance(e, Loaded) for e in self._entries.values())

    def count(self, available: bool) -> int:
        return sum(isinstance(e, Loaded) == available for e in self._entries.values())

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def get(self, name: str) -> Model:
        return self.entry(name).model

    def entry(self, name: str) -> Loaded:
        """The serving entry of a model: 404 if unknown, 503 if its bundle is broken."""
        entry = self._entries.get(name)
        if entry is None:
            raise ModelNotFound(
                f"no model named {name!r}", detail={"models": sorted(self._entries)}
            )
        if isinstance(entry, Unavailable):
            raise ModelUnavailable(f"model {name!r} is unavailable: {entry.reason}")
        return entry

    def known(self, name: str) -> bool:
        return name in self._entries

    def load_all(self) -> list[ReloadResult]:
        """Discover and load every bundle (start-up); the same as a reload from nothing."""
        results = self.reload()
        self._loaded = True
        return results

    def reload(self) -> list[ReloadResult]:
        """Rescan the model directory: load new and changed bundles, drop removed ones."""
        with self._reload_lock:
            current = dict(self._entries)
            entries: dict[str, Entry] = {}
            results = []
            for directory in self._bundle_dirs():
                entries[directory.name], result = self._refresh(
                    directory, current.get(directory.name)
                )
                results.append(result)
            results += [ReloadResult(name, "removed") for name in sorted(current.keys() - entries)]
            self._entries = entries
            return results

    def _bundle_dirs(self) -> list[Path]:
        # Dot folders are the exporter's staging and old copies (`.name.staging`, `.name.old`).
        children = sorted(self._model_dir.iterdir()) if self._model_dir.is_dir() else []
        return [path for path in children if path.is_dir() and not path.name.startswith(".")]

    def _refresh(self, directory: Path, old: Entry | None) -> tuple[Entry, ReloadResult]:
        name = directory.name
        try:
            manifest_sha256 = hashlib.sha256((directory / bundle.MANIFEST).read_bytes()).hexdigest()
        except OSError as exc:
            return self._failed(name, old, f"{directory / bundle.MANIFEST}: {exc.strerror}")
        try:
            if isinstance(old, Loaded) and old.manifest_sha256 == manifest_sha256:
                bundle.verify_files(directory, old.model.manifest)  # still intact on disk?
                return Loaded(old.model, manifest_sha256), ReloadResult(name, "unchanged")
            model = self._load(directory)
        except BundleInvalid as exc:
            return self._failed(name, old, exc.message)
        except Exception as exc:  # a bug or an OS fault: one bundle must not stop the service
            logger.exception("unexpected error loading bundle %s", name)
            return self._failed(name, old, f"{directory}: unexpected {type(exc).__name__}")
        logger.info(
            "model %s loaded (%s, %d-d latent)", name, model.manifest.kind, model.latent_dim
        )
        outcome: ReloadOutcome = "replaced" if isinstance(old, Loaded) else "added"
        return Loaded(model, manifest_sha256), ReloadResult(name, outcome)

    @staticmethod
    def _failed(name: str, old: Entry | None, reason: str) -> tuple[Entry, ReloadResult]:
        if isinstance(old, Loaded):
            logger.error(
                "bundle %s not reloaded, the previous version keeps serving: %s", name, reason
            )
            return Loaded(old.model, old.manifest_sha256, reason), ReloadResult(
                name, "kept_previous", reason
            )
        logger.error("bundle %s is unavailable: %s", name, reason)
        return Unavailable(name, reason), ReloadResult(name, "unavailable", reason)
