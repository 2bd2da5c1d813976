"""The training loop: epochs of shuffled batches, a validation pass and a checkpoint per epoch,
JSON-lines metrics, exact resume, and DDP when launched by torchrun."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training.config import ModelConfig, TrainConfig, config_from_dict, to_dict
from training.datasets.catalog import dataset_entry, load_dataset
from training.datasets.splits import DatasetSplits, LabeledImages, LoadOptions
from training.distributed import DistContext, all_reduce_mean, barrier, init_distributed, shutdown
from training.errors import ConfigError
from training.losses import LossTerms, autoencoder_loss
from training.models import AnyAutoencoder, build_model
from vae_core.bundle import Manifest
from vae_core.preprocess import Preprocessing

CHECKPOINT = "ckpt.pt"
METRICS_LOG = "metrics.jsonl"


@dataclass
class Checkpoint:
    """Everything needed to resume or export: one dict on disk.

    `model` and `optimizer` are the last epoch's, which resume continues from; `best_model` holds
    the weights of the epoch with the lowest validation loss, `best_epoch`, which export writes.
    """

    model: dict[str, Any]
    optimizer: dict[str, Any]
    model_config: ModelConfig
    train_config: TrainConfig
    epoch: int  # epochs completed
    step: int
    best_val_loss: float
    best_epoch: int = 0  # 0: none yet (or a checkpoint saved before the best weights were kept)
    best_model: dict[str, Any] | None = None

    def save(self, path: Path) -> None:
        payload = {
            "model": self.model,
            "optimizer": self.optimizer,
            "model_config": to_dict(self.model_config),
            "train_config": to_dict(self.train_config),
            "epoch": self.epoch,
            "step": self.step,
            "best_val_loss": self.best_val_loss,
            "best_epoch": self.best_epoch,
            "best_model": self.best_model,
        }
        tmp = path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        model_config = config_from_dict(ModelConfig, raw["model_config"])
        return cls(
            model=raw["model"],
            optimizer=raw["optimizer"],
            model_config=model_config,
            train_config=_saved_train_config(raw["train_config"], model_config),
            epoch=raw["epoch"],
            step=raw["step"],
            best_val_loss=raw["best_val_loss"],
            best_epoch=raw.get("best_epoch", 0),
            best_model=raw.get("best_model"),
        )

    def build_model(self) -> AnyAutoencoder:
        """The network as of the last epoch."""
        return self._network(self.model)

    def build_best_model(self) -> AnyAutoencoder:
        """The network as of `exported_epoch`: the best validation loss when one was kept."""
        return self._network(self.best_model if self.best_model is not None else self.model)

    @property
    def exported_epoch(self) -> int:
        """The epoch of `build_best_model`'s weights."""
        return self.best_epoch if self.best_model is not None else self.epoch

    def _network(self, state: dict[str, Any]) -> AnyAutoencoder:
        model = build_model(self.model_config)
        model.load_state_dict(state)
        return model.eval()


def _saved_train_config(values: dict[str, Any], model_config: ModelConfig) -> TrainConfig:
    """The run settings of a checkpoint, with the image size its model was trained at.

    Fashion-MNIST runs saved before the image size was resolved from the dataset hold the old
    default 64 there, which no loader used; their models saw 32x32 images, as the model config says.
    """
    return config_from_dict(TrainConfig, {**values, "image_size": model_config.image_size})


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, ctx: DistContext
) -> list[np.ndarray]:
    """This rank's batches: one permutation per (seed, epoch), dealt out to the ranks."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    order = order[: n - n % ctx.world_size][ctx.rank :: ctx.world_size]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def to_input(
    split: LabeledImages, index: np.ndarray, prep: Preprocessing, ctx: DistContext
) -> torch.Tensor:
    x = torch.from_numpy(prep.to_tensor(split.pixels[index])).to(ctx.device)
    return x.contiguous(memory_format=ctx.memory_format)


def train(
    train_config: TrainConfig, model_config: ModelConfig, run_dir: Path, resume: bool
) -> Path:
    """Train, checkpointing to run_dir/ckpt.pt after every epoch; returns the checkpoint path."""
    ctx = init_distributed(channels_last=train_config.channels_last)
    try:
        return _train(train_config, model_config, run_dir, resume, ctx)
    finally:
        shutdown(ctx)


def _train(
    train_config: TrainConfig,
    model_config: ModelConfig,
    run_dir: Path,
    resume: bool,
    ctx: DistContext,
) -> Path:
    torch.manual_seed(train_config.seed)
    data = load_run_dataset(train_config)
    # The model takes the images as deep as the dataset gives them (a folder's are 1 or 3).
    model_config = dataclasses.replace(model_config, channels=data.preprocessing.channels)
    _check_shapes(model_config, data.preprocessing)
    model = build_model(model_config).to(ctx.device)
    model.to(memory_format=ctx.memory_format)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    path = run_dir / CHECKPOINT
    ckpt = _start_state(path, resume, model, optimizer, train_config, model_config)
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            (run_dir / METRICS_LOG).unlink(missing_ok=True)
    wrapped: torch.nn.Module = DistributedDataParallel(model) if ctx.world_size > 1 else model
    if train_config.compile:
        wrapped = torch.compile(wrapped)  # type: ignore[assignment]
    for epoch in range(ckpt.epoch, train_config.epochs):
        stats = train_epoch(wrapped, optimizer, data, train_config, epoch, ctx)
        val = validate(model, data.val, data.preprocessing, train_config, ctx)
        ckpt.step += int(stats.pop("steps"))
        ckpt.epoch = epoch + 1
        if val["val_loss"] < ckpt.best_val_loss:
            ckpt.best_val_loss, ckpt.best_epoch = val["val_loss"], epoch + 1
            ckpt.best_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if ctx.is_main:
            ckpt.model, ckpt.optimizer = model.state_dict(), optimizer.state_dict()
            ckpt.save(path)
            _log(run_dir, {"epoch": epoch + 1, "step": ckpt.step, **stats, **val})
        barrier(ctx)
    return path


def load_run_dataset(config: TrainConfig) -> DatasetSplits:
    """The run's dataset, its images of the side the run's model sees."""
    data_dir = Path(config.data_dir) if config.data_dir else None
    return load_dataset(config.dataset, data_dir, config.image_size, load_options(config))


def bundle_dataset(manifest: Manifest, data_dir: str | None = None) -> DatasetSplits:
    """A bundle's dataset at the side its model sees (Fashion-MNIST's 28 padded to 32); a folder
    of your own images as the run read it (its folder, unless `data_dir`, channels, fit, split)."""
    run = run_config_of(manifest.training)
    own_images = dataset_entry(run.dataset).own_images
    folder = data_dir or (run.data_dir if own_images else None)
    directory = Path(folder) if folder else None
    return load_dataset(manifest.dataset.name, directory, manifest.image.height, load_options(run))


def run_config_of(training: dict[str, Any]) -> TrainConfig:
    """The run settings a manifest's `training` records (beside the run's results)."""
    names = {field.name for field in dataclasses.fields(TrainConfig)}
    return config_from_dict(TrainConfig, {k: v for k, v in training.items() if k in names})


def load_options(config: TrainConfig) -> LoadOptions:
    """What the run asks of its dataset's loader; a run needs one full batch of training images."""
    return LoadOptions(
        workers=config.workers or os.cpu_count() or 1,
        channels=config.channels,
        fit=config.fit,
        skip_bad_images=config.skip_bad_images,
        split_seed=config.split_seed,
        cache_dir=Path(config.cache_dir) if config.cache_dir else None,
        min_train_images=config.batch_size,
    )


def _check_shapes(model_config: ModelConfig, prep: Preprocessing) -> None:
    expected = (model_config.channels, model_config.image_size, model_config.image_size)
    if prep.output_shape != expected:
        raise ConfigError(
            f"the dataset gives images {prep.output_shape}; the model expects {expected}"
        )


def _start_state(
    path: Path,
    resume: bool,
    model: AnyAutoencoder,
    optimizer: torch.optim.Optimizer,
    train_config: TrainConfig,
    model_config: ModelConfig,
) -> Checkpoint:
    if not resume:
        return Checkpoint({}, {}, model_config, train_config, 0, 0, math.inf)
    if not path.is_file():
        raise ConfigError(f"--resume: no checkpoint at {path}")
    ckpt = Checkpoint.load(path)
    if ckpt.model_config != model_config:
        raise ConfigError(f"--resume: {path} holds {ckpt.model_config}, not {model_config}")
    model.load_state_dict(ckpt.model)
    optimizer.load_state_dict(ckpt.optimizer)
    for group in optimizer.param_groups:  # Adam's moments carry on, at this run's --lr
        group["lr"] = train_config.lr
    ckpt.train_config = train_config  # e.g. more epochs, another beta or learning rate
    return ckpt


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: DatasetSplits,
    config: TrainConfig,
    epoch: int,
    ctx: DistContext,
) -> dict[str, float]:
    """One pass over this rank's shard; returns mean loss terms, throughput and the step count."""
    model.train()
    noise = torch.Generator(device=ctx.device).manual_seed(
        config.seed * 1_000_003 + epoch * 101 + ctx.rank
    )
    batches = epoch_batches(_train_size(data, config), config.batch_size, config.seed, epoch, ctx)
    totals, seen, start = np.zeros(3), 0, time.perf_counter()
    bar = tqdm(
        batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not ctx.is_main, unit="batch"
    )
    for index in bar:
        x = to_input(data.train, index, data.preprocessing, ctx)
        terms = autoencoder_loss(model(x, noise), x, config.beta, config.reconstruction)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        optimizer.step()
        totals += len(index) * _as_floats(terms)
        seen += len(index)
        rate = seen * ctx.world_size / (time.perf_counter() - start)
        bar.set_postfix(_postfix(totals / seen, rate), refresh=False)
    means = all_reduce_mean(torch.tensor(totals / max(seen, 1)), ctx).tolist()
    elapsed = time.perf_counter() - start
    return {
        "train_loss": means[0],
        "train_reconstruction": means[1],
        "train_kl": means[2],
        "images_per_s": seen * ctx.world_size / elapsed,
        "epoch_s": elapsed,
        "steps": len(batches),
    }


def _train_size(data: DatasetSplits, config: TrainConfig) -> int:
    return min(len(data.train), config.max_train_images or len(data.train))


def _as_floats(terms: LossTerms) -> np.ndarray:
    return np.array([terms.total.item(), terms.reconstruction.item(), terms.kl.item()])


def _postfix(means: np.ndarray, rate: float) -> dict[str, str]:
    return {
        "loss": f"{means[0]:.2f}",
        "recon": f"{means[1]:.2f}",
        "kl": f"{means[2]:.2f}",
        "img/s": f"{rate:.0f}",
    }


@torch.no_grad()
def validate(
    model: AnyAutoencoder,
    split: LabeledImages,
    prep: Preprocessing,
    config: TrainConfig,
    ctx: DistContext,
) -> dict[str, float]:
    """Loss terms on the validation split, with fixed noise so the figure is comparable."""
    model.eval()
    noise = torch.Generator(device=ctx.device).manual_seed(config.seed)
    totals = np.zeros(3)
    for start in range(0, len(split), 512):
        x = to_input(split, np.arange(start, min(start + 512, len(split))), prep, ctx)
        totals += len(x) * _as_floats(
            autoencoder_loss(model(x, noise), x, config.beta, config.reconstruction)
        )
    means = (totals / len(split)).tolist()
    return {"val_loss": means[0], "val_reconstruction": means[1], "val_kl": means[2]}


def _log(run_dir: Path, record: dict[str, Any]) -> None:
    with (run_dir / METRICS_LOG).open("a") as f:
        f.write(json.dumps({"time": time.time(), **record}) + "\n")
    tqdm.write(
        " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
    )
