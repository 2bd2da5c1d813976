"""The command line: flags reach the functions they configure; bad values exit 2 with a message."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from training.cli import build_parser, configs_from_args, main
from training.config import ModelConfig, TrainConfig

pytestmark = pytest.mark.unit


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


def train_configs(*flags: str) -> tuple[TrainConfig, ModelConfig]:
    return configs_from_args(build_parser().parse_args(["train", "--name", "run", *flags]))


@pytest.mark.parametrize(
    ("flags", "side"),
    [
        ([], 32),
        (["--dataset", "fashion-mnist", "--image-size", "32"], 32),
        (["--dataset", "celeba"], 64),
        (["--dataset", "celeba", "--image-size", "128"], 128),
        (["--dataset", "folder"], 64),
        (["--dataset", "folder", "--image-size", "96"], 96),
    ],
)
def test_the_image_size_is_the_side_the_model_sees(flags: list[str], side: int) -> None:
    train_config, model_config = train_configs(*flags)

    assert train_config.image_size == model_config.image_size == side


def test_an_image_size_the_dataset_cannot_give_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--name", "run", "--image-size", "64", "--runs-dir", str(tmp_path)]

    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: fashion-mnist gives images of side 32 (default 32), not 64\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("dataset", "channels", "latent_dim", "reconstruction"),
    [("fashion-mnist", 1, 2, "bce"), ("celeba", 3, 200, "mse")],
)
def test_the_dataset_picks_the_architecture_and_the_reconstruction(
    dataset: str, channels: int, latent_dim: int, reconstruction: str
) -> None:
    train_config, model_config = train_configs("--dataset", dataset)

    assert (model_config.channels, model_config.latent_dim) == (channels, latent_dim)
    assert train_config.reconstruction == reconstruction


def test_every_run_flag_reaches_the_train_config() -> None:
    train_config, _ = train_configs(
        "--dataset", "celeba", "--data-dir", "faces", "--image-size", "32", "--epochs", "3",
        "--batch-size", "16", "--lr", "0.01", "--beta", "0.5", "--reconstruction", "bce",
        "--seed", "9", "--max-train-images", "100", "--nll-samples", "5", "--channels-last",
        "--compile",
    )  # fmt: skip

    assert train_config == TrainConfig(
        name="run",
        dataset="celeba",
        data_dir="faces",
        image_size=32,
        epochs=3,
        batch_size=16,
        lr=0.01,
        beta=0.5,
        reconstruction="bce",
        seed=9,
        max_train_images=100,
        nll_samples=5,
        channels_last=True,
        compile=True,
    )


def test_the_folder_flags_reach_the_train_config(tmp_path: Path) -> None:
    train_config, _ = train_configs(
        "--dataset", "folder", "--data-dir", "photos", "--channels", "1", "--fit", "pad",
        "--skip-bad-images", "--split-seed", "5", "--workers", "3",
        "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip

    settings = dataclasses.asdict(train_config)
    assert {k: settings[k] for k in ("channels", "fit", "skip_bad_images", "split_seed")} == {
        "channels": 1,
        "fit": "pad",
        "skip_bad_images": True,
        "split_seed": 5,
    }
    assert train_config.workers == 3
    assert train_config.cache_dir == str(tmp_path / "cache")  # beside the runs folder


def test_folder_flags_with_a_named_dataset_exit_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["train", "--name", "run", "--fit", "pad", "--split-seed", "1"]) == 2
    assert capsys.readouterr().err == "error: --fit, --split-seed: only with --dataset folder\n"
