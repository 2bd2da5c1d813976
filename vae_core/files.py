"""Files that must never be read half-written: checksums, change stamps and atomic JSON writes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

TEMPORARY_SUFFIX = ".tmp"  # write_json_atomic's files before their rename

# inode, size, mtime and ctime (ns) of a file: a write, replacement or deletion changes them.
Stamp = tuple[int, int, int, int]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stamps(directory: Path) -> dict[str, Stamp]:
    """The stamp of each file in the folder, from one stat each: a cheap test for "unchanged".
    Empty if the folder cannot be read (so any comparison says "changed")."""
    try:
        with os.scandir(directory) as entries:
            return {entry.name: _stamp(entry.stat()) for entry in entries if entry.is_file()}
    except OSError:
        return {}


def _stamp(stat: os.stat_result) -> Stamp:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary sibling, fsync, then rename: readers see old or new, never torn.

    The temporary name is unique, so concurrent writers (threads, workers, replicas sharing a
    volume) never write into the same file; the last rename wins. A writer killed before its
    rename leaves its temporary file behind: see remove_stale_temporaries."""
    write_bytes_atomic(path, json.dumps(payload, indent=1).encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """`write_json_atomic` for any bytes."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def swap_folder(staging: Path, target: Path) -> None:
    """Replace the folder `target` with `staging` by two renames, so readers see the old folder or
    the new one whole, never a mix; the old one is then deleted."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def rewrite_folder(target: Path, change: Callable[[Path], T]) -> T:
    """Run `change` on a copy of the folder `target` and swap the copy in whole (`swap_folder`):
    a reader of `target` meanwhile sees it as it was, and a failed change leaves it untouched."""
    staging = target.with_name(f".{target.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(target, staging)
    try:
        result = change(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_folder(staging, target)
    return result


def remove_stale_temporaries(directory: Path, older_than_s: float) -> list[Path]:
    """Delete the temporary files of write_json_atomic in `directory` that are older than
    `older_than_s`: left by writers killed before their rename. A younger one may belong to a live
    writer (another worker, or a replica sharing the volume), so it stays. Returns those deleted."""
    cutoff = time.time() - older_than_s
    removed = []
    for path in directory.glob(f".*{TEMPORARY_SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError:  # renamed by its writer meanwhile, or not ours to delete: leave it
            continue
    return removed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
