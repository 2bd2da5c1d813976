"""Atomic writes, change stamps and the clean-up of writes that never finished."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from vae_core import files

pytestmark = pytest.mark.unit


def test_an_atomic_write_leaves_the_new_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "vector.json"
    files.write_json_atomic(target, {"old": True})
    files.write_json_atomic(target, {"new": [1, 2]})
    assert json.loads(target.read_text()) == {"new": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vector.json"]


def test_only_stale_temporaries_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / f".a.json.0123{files.TEMPORARY_SUFFIX}"
    live = tmp_path / f".b.json.4567{files.TEMPORARY_SUFFIX}"
    kept = tmp_path / "a.json"
    for path in (stale, live, kept):
        path.write_text("{}")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    os.utime(kept, (an_hour_ago, an_hour_ago))
    assert files.remove_stale_temporaries(tmp_path, older_than_s=60) == [stale]
    assert live.exists() and kept.exists() and not stale.exists()


def test_stamps_change_with_a_write_and_not_with_a_read(tmp_path: Path) -> None:
    path = tmp_path / "graph.onnx"
    path.write_bytes(b"one")
    before = files.stamps(tmp_path)
    path.read_bytes()
    assert files.stamps(tmp_path) == before
    path.write_bytes(b"two")
    assert files.stamps(tmp_path) != before
    assert files.stamps(tmp_path / "missing") == {}


def test_sha256_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert files.sha256_file(path) == expected
