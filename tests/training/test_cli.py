"""The command line: flags reach the functions they configure; bad values exit 2 with a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.cli import main


def test_faces_passes_workers_and_every_other_flag_to_generate_faces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def record(out_dir: Path, count: int, **options: Any) -> Path:
        calls.append({"out_dir": out_dir, "count": count, **options})
        return out_dir

    monkeypatch.setattr("training.faces.writer.generate_faces", record)
    argv = ["faces", "--out", str(tmp_path), "--count", "7", "--seed", "4", "--layout", "kaggle"]

    assert main([*argv, "--zip", "--workers", "3"]) == 0
    assert calls == [
        {
            "out_dir": tmp_path,
            "count": 7,
            "seed": 4,
            "layout": "kaggle",
            "zip_images": True,
            "workers": 3,
        }
    ]


def test_faces_refuses_zero_workers_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["faces", "--out", str(tmp_path / "faces"), "--count", "3", "--workers", "0"])

    assert status == 2
    assert capsys.readouterr().err == "error: need count >= 1 and workers >= 1, got 3 and 0\n"
    assert not (tmp_path / "faces").exists()
