"""The models being served: bundles discovered in the model directory, validated, loaded and warmed
at start-up, and reloaded on demand. A broken bundle is kept as `Unavailable` with its reason; a
model being replaced keeps serving its old version until the new one has been validated.

A loaded model whose files are later corrupted or deleted on disk is reported unavailable (503,
with the reason) although its sessions still run from memory: its bundle can no longer be loaded
again (by a restart, another worker or a replica), so the fault must show now, not at the next
restart. A watcher thread (`ModelRegistry.watch`) re-checks the files cheaply (`DiskCheck`) every
`interval` seconds, off the request path; a lookup reads the last result, so a fault shows within
one interval. Restoring the files makes the model available again, and a reload (which checks at
once) reports it unavailable for as long as they stay broken."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from service.errors import ModelNotFound, ModelUnavailable
from vae_core import bundle, files
from vae_core.bundle import Manifest
from vae_core.errors import BundleInvalid
from vae_core.graphs import OnnxAutoencoder
from vae_core.vocabulary import ReloadOutcome

logger = logging.getLogger("vae_serve.registry")


@dataclass(frozen=True)
class Unavailable:
    """A bundle that failed validation: it is listed, and requests to it get 503."""

    name: str
    reason: str


class DiskCheck:
    """Whether the files a loaded model came from are still intact on disk: `check` stats each
    file and compares the stamps taken when they were last hashed; only a changed stamp costs a
    re-hash, and the result is kept with the new stamps, so a broken file is hashed once, not once
    per check. `fault` is the last result, free to read on every request. A changed model.json is a
    new version waiting for a reload, not a fault: the loaded version keeps serving.

    Lock-free: the stamps and their result are swapped in as one tuple; two threads that see the
    same change (the watcher and a reload) may both hash it."""

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        manifest_sha256: str,
        stamps: dict[str, files.Stamp],
    ):
        self.directory = directory
        self.manifest = manifest
        self.manifest_sha256 = manifest_sha256
        # Stamps taken before the files were hashed, so no change slips in between.
        self._known: tuple[dict[str, files.Stamp], str | None] = (stamps, None)

    @property
    def fault(self) -> str | None:
        """Why the loaded version's files were not intact at the last check, or None."""
        return self._known[1]

    def check(self, rehash: bool = False) -> str | None:
        """Stat the files now and return `fault`. `rehash`: hash them even if no stamp changed,
        as a reload does (a stamp misses bit rot, and a same-size write in the same clock tick as
        the stamp)."""
        stamps = files.stamps(self.directory)
        known_stamps, known_fault = self._known
        if stamps == known_stamps and not rehash:
            return known_fault
        fault = self._verify()
        if fault != known_fault:
            _log_change(self.directory.name, fault)
        self._known = (stamps, fault)
        return fault

    def _verify(self) -> str | None:
        try:
            if bundle.manifest_sha256(self.directory) == self.manifest_sha256:
                bundle.verify_files(self.directory, self.manifest)
        except BundleInvalid as exc:
            return exc.message
        return None


def _log_change(name: str, fault: str | None) -> None:
    if fault is None:
        logger.info("bundle %s is no longer broken on disk; its model serves again", name)
    else:
        logger.error("bundle %s changed on disk, its model is unavailable: %s", name, fault)


class DiskWatch:
    """A daemon thread calling `check` every `interval` seconds, until `stop`. A failing check
    is logged and retried at the next interval: the watcher never dies."""

    def __init__(self, check: Callable[[], None], interval: float):
        self._check = check
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._check()
            except Exception:  # a bug or an OS fault: log it, keep watching
                logger.exception("checking the bundles on disk failed")


@dataclass(frozen=True)
class Loaded:
    model: OnnxAutoencoder
    disk: DiskCheck  # the loaded version's files
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

    def __init__(self, model_dir: Path, load: Callable[[Path], OnnxAutoencoder]):
        self._model_dir = model_dir
        self._load = load
        self._entries: dict[str, Entry] = {}
        self._loaded = False
        self._reload_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """True once loading has finished and at least one model serves."""
        return self._loaded and any(isinstance(e, Loaded) for e in self.entries())

    def count(self, available: bool) -> int:
        return sum(isinstance(e, Loaded) == available for e in self.entries())

    def entries(self) -> list[Entry]:
        """Every model as it stands now: one whose files broke on disk is Unavailable."""
        return [_current(entry) for entry in self._entries.values()]

    def get(self, name: str) -> OnnxAutoencoder:
        return self.entry(name).model

    def entry(self, name: str) -> Loaded:
        """The serving entry of a model: 404 if unknown, 503 if its bundle is broken."""
        entry = self._entries.get(name)
        if entry is None:
            raise ModelNotFound(
                f"no model named {name!r}", detail={"models": sorted(self._entries)}
            )
        entry = _current(entry)
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

    def check_disk(self) -> None:
        """Re-check the files of every loaded model (stat; hash only what changed)."""
        for entry in list(self._entries.values()):
            if isinstance(entry, Loaded):
                entry.disk.check()

    def watch(self, interval: float) -> DiskWatch:
        """Start a thread that runs `check_disk` every `interval` seconds until stopped."""
        return DiskWatch(self.check_disk, interval)

    def _bundle_dirs(self) -> list[Path]:
        # Dot folders are the exporter's staging and old copies (`.name.staging`, `.name.old`).
        children = sorted(self._model_dir.iterdir()) if self._model_dir.is_dir() else []
        return [path for path in children if path.is_dir() and not path.name.startswith(".")]

    def _refresh(self, directory: Path, old: Entry | None) -> tuple[Entry, ReloadResult]:
        name = directory.name
        if isinstance(old, Loaded) and (fault := old.disk.check(rehash=True)) is not None:
            return Loaded(old.model, old.disk), ReloadResult(name, "unavailable", fault)
        try:
            stamps = files.stamps(directory)  # before any hashing: a later write shows
            manifest_sha256 = bundle.manifest_sha256(directory)
            if isinstance(old, Loaded) and old.disk.manifest_sha256 == manifest_sha256:
                return Loaded(old.model, old.disk), ReloadResult(name, "unchanged")
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
        disk = DiskCheck(directory, model.manifest, manifest_sha256, stamps)
        return Loaded(model, disk), ReloadResult(name, outcome)

    @staticmethod
    def _failed(name: str, old: Entry | None, reason: str) -> tuple[Entry, ReloadResult]:
        if isinstance(old, Loaded):
            logger.error(
                "bundle %s not reloaded, the previous version keeps serving: %s", name, reason
            )
            return Loaded(old.model, old.disk, reason), ReloadResult(name, "kept_previous", reason)
        logger.error("bundle %s is unavailable: %s", name, reason)
        return Unavailable(name, reason), ReloadResult(name, "unavailable", reason)


def _current(entry: Entry) -> Entry:
    """A loaded model whose files broke on disk is Unavailable (until they are restored)."""
    if isinstance(entry, Loaded) and (fault := entry.disk.fault) is not None:
        return Unavailable(entry.model.name, fault)
    return entry
