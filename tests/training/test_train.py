from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.training.conftest import TINY, tiny_run
from training.train import CHECKPOINT, METRICS_LOG, Checkpoint, train

pytestmark = pytest.mark.slow


def test_one_epoch_smoke_writes_a_checkpoint_and_a_metrics_line(
    fashion_dir: Path, tmp_path: Path
) -> None:
    path = train(tiny_run(fashion_dir), TINY, tmp_path, resume=False)
    ckpt = Checkpoint.load(path)
    assert ckpt.epoch == 1 and ckpt.step == 4  # 256 images / batch 64
    assert ckpt.model_config == TINY
    [record] = [json.loads(line) for line in (tmp_path / METRICS_LOG).read_text().splitlines()]
    for key in ("train_loss", "train_kl", "val_loss", "val_reconstruction", "images_per_s"):
        assert key in record
    assert record["val_kl"] > 0


def test_training_lowers_the_validation_loss(fashion_dir: Path, tmp_path: Path) -> None:
    train(tiny_run(fashion_dir, epochs=3, max_train_images=1024), TINY, tmp_path, resume=False)
    losses = [
        json.loads(line)["val_loss"] for line in (tmp_path / METRICS_LOG).read_text().splitlines()
    ]
    assert losses[-1] < losses[0]


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(
    fashion_dir: Path, tmp_path: Path
) -> None:
    straight = train(tiny_run(fashion_dir, epochs=2), TINY, tmp_path / "a", resume=False)
    train(tiny_run(fashion_dir, epochs=1), TINY, tmp_path / "b", resume=False)
    resumed = train(tiny_run(fashion_dir, epochs=2), TINY, tmp_path / "b", resume=True)
    a, b = Checkpoint.load(straight), Checkpoint.load(resumed)
    assert (a.epoch, a.step) == (b.epoch, b.step) == (2, 8)
    for name, tensor in a.model.items():
        assert torch.equal(tensor, b.model[name]), name


def test_resume_continues_at_the_learning_rate_it_is_given(
    fashion_dir: Path, tmp_path: Path
) -> None:
    train(tiny_run(fashion_dir, epochs=1), TINY, tmp_path, resume=False)
    resumed = train(tiny_run(fashion_dir, epochs=2, lr=1e-4), TINY, tmp_path, resume=True)
    [group] = Checkpoint.load(resumed).optimizer["param_groups"]
    assert group["lr"] == 1e-4


def test_same_seed_gives_identical_weights(fashion_dir: Path, tmp_path: Path) -> None:
    one = Checkpoint.load(train(tiny_run(fashion_dir), TINY, tmp_path / "1", resume=False))
    two = Checkpoint.load(train(tiny_run(fashion_dir), TINY, tmp_path / "2", resume=False))
    other = Checkpoint.load(
        train(tiny_run(fashion_dir, seed=4), TINY, tmp_path / "3", resume=False)
    )
    weight = "decoder.net.0.weight"
    assert torch.equal(one.model[weight], two.model[weight])
    assert not torch.equal(one.model[weight], other.model[weight])


@pytest.mark.e2e
def test_torchrun_with_two_cpu_processes_writes_one_checkpoint(
    fashion_dir: Path, tmp_path: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "training",
        "train",
        "--name",
        "ddp",
        "--widths",
        "4,8",
        "--epochs",
        "1",
        "--max-train-images",
        "256",
        "--batch-size",
        "32",
        "--data-dir",
        str(fashion_dir),
        "--runs-dir",
        str(tmp_path),
        "--no-export",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [CHECKPOINT, METRICS_LOG]
    ckpt = Checkpoint.load(tmp_path / "ddp" / CHECKPOINT)
    assert ckpt.epoch == 1 and ckpt.step == 4  # 256 images dealt to 2 ranks, batches of 32


def test_the_checkpoint_keeps_the_best_epochs_weights_beside_the_last(
    fashion_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = Checkpoint.load(train(tiny_run(fashion_dir, epochs=2), TINY, tmp_path / "2", False))
    losses = iter([3.0, 1.0, 2.0])  # epoch 2 is the best; validation does not touch the weights
    monkeypatch.setattr(
        "training.train.validate",
        lambda *args: dict.fromkeys(("val_loss", "val_reconstruction", "val_kl"), next(losses)),
    )
    three = Checkpoint.load(train(tiny_run(fashion_dir, epochs=3), TINY, tmp_path / "3", False))

    assert (three.epoch, three.best_epoch, three.best_val_loss) == (3, 2, 1.0)
    assert three.best_model is not None and three.exported_epoch == 2
    for name, tensor in two.model.items():
        assert torch.equal(three.best_model[name], tensor), name
    weight = "decoder.net.0.weight"
    assert not torch.equal(three.model[weight], two.model[weight])  # the last epoch, for resume
