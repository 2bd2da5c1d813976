"""`python -m training {train,export,report,map,quantize,faces,classifier,samplers,calibrate,
evaluate}`: the training command line."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from training.config import (
    MAX_SCORE_SAMPLES,
    NETWORKS,
    PRESETS,
    CalibrationConfig,
    ModelConfig,
    TrainConfig,
)
from training.datasets.catalog import (
    DATASETS,
    dataset_entry,
    describe_sides,
    resolve_image_size,
)
from training.datasets.celeba import CELEBA_LAYOUTS
from training.errors import ConfigError, TrainingError
from training.vocabulary import Fit, Norm, Upsample
from vae_core.latent_map import MAX_POINTS
from vae_core.vocabulary import ModelKind, Reconstruction, values

if TYPE_CHECKING:
    from training.datasets.splits import DatasetSplits


def _image_size_help() -> str:
    sides = "; ".join(
        f"{name} {describe_sides(entry.image_sizes, '/')}" for name, entry in DATASETS.items()
    )
    return f"side of the model's input (default: the dataset's own; {sides})"


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an AE or VAE, then export its bundle")
    p.add_argument("--name", required=True, help="bundle name: models/<name>, runs/<name>")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=TrainConfig.dataset)
    p.add_argument("--data-dir", help="dataset folder (else $FASHION_MNIST_DIR / $CELEBA_DIR, ...)")
    p.add_argument("--image-size", type=int, help=_image_size_help())
    p.add_argument("--arch", choices=sorted(PRESETS), help="architecture preset (by dataset)")
    p.add_argument("--model", choices=values(ModelKind), default="vae")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--widths", help="comma-separated conv widths, e.g. 32,64,128")
    p.add_argument("--norm", choices=values(Norm))
    p.add_argument("--upsample", choices=values(Upsample))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    p.add_argument("--reconstruction", choices=values(Reconstruction), help="by dataset: bce / mse")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train-images", type=int, help="train on the first N images only")
    p.add_argument("--nll-samples", type=int, default=50, help="importance samples for test NLL")
    p.add_argument("--models-dir", type=Path, default=Path("models"))
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--channels-last", action="store_true", help="NHWC activations (faster on CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--resume", action="store_true", help="continue from runs/<name>/ckpt.pt")
    p.add_argument("--no-export", action="store_true", help="train only")
    p.add_argument("--workers", type=int, help="image-decoding processes (default: one per CPU)")
    own = p.add_argument_group("your own images (--dataset folder --data-dir PATH)")
    own.add_argument(
        "--channels", type=int, choices=(1, 3), help="default: 1 if every image is gray"
    )
    own.add_argument("--fit", choices=values(Fit), help="make images square: crop (default) or pad")
    own.add_argument(
        "--skip-bad-images", action="store_true", help="leave unreadable images out (else: error)"
    )
    own.add_argument("--split-seed", type=int, help="seed of drawn splits (default 0)")
    own.add_argument(
        "--cache-dir", type=Path, help="decoded images kept between runs (default: cache/ beside "
        "the runs dir)"
    )  # fmt: skip
    _export_arguments(p)


def _samples_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--samples", type=int, default=10_000, help="codes drawn from each sampler to measure it"
    )


def _export_arguments(p: argparse.ArgumentParser) -> None:
    _samples_argument(p)
    _ood_images_argument(p)
    _int8_argument(p)


def _int8_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--int8", action="store_true", help="add int8 graphs, those that pass the quality gate "
        "(as python -m training quantize)",
    )  # fmt: skip


def configs_from_args(args: argparse.Namespace) -> tuple[TrainConfig, ModelConfig]:
    """The dataset's defaults (architecture, reconstruction, image size), then explicit flags.

    The image size is resolved once, from the dataset, for both configs: the side the model sees.
    """
    dataset = dataset_entry(args.dataset)
    image_size = resolve_image_size(args.dataset, args.image_size)
    overrides = {
        "kind": args.model,
        "latent_dim": args.latent_dim,
        "norm": args.norm,
        "upsample": args.upsample,
        "widths": tuple(int(w) for w in args.widths.split(",")) if args.widths else None,
    }
    model_config = dataclasses.replace(
        PRESETS[args.arch or dataset.preset],
        image_size=image_size,
        **{k: v for k, v in overrides.items() if v is not None},
    )
    # Each run setting is the flag of the same name; these are resolved here.
    run = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainConfig)}
    run |= {
        "image_size": image_size,
        "reconstruction": args.reconstruction or dataset.reconstruction,
        **_own_image_settings(args, dataset.own_images),
    }
    return TrainConfig(**run), model_config


def _own_image_settings(args: argparse.Namespace, own_images: bool) -> dict[str, object]:
    """The folder settings' defaults; ConfigError for one given with a dataset that fixes it."""
    given = {
        "--channels": args.channels,
        "--fit": args.fit,
        "--skip-bad-images": args.skip_bad_images or None,
        "--split-seed": args.split_seed,
        "--cache-dir": args.cache_dir,
    }
    flags = [flag for flag, value in given.items() if value is not None]
    if flags and not own_images:
        names = " or ".join(name for name, entry in DATASETS.items() if entry.own_images)
        raise ConfigError(f"{', '.join(flags)}: only with --dataset {names}")
    return {
        "fit": args.fit or TrainConfig.fit,
        "split_seed": args.split_seed or TrainConfig.split_seed,
        "cache_dir": str(args.cache_dir or args.runs_dir.parent / "cache") if own_images else None,
    }


def cmd_train(args: argparse.Namespace) -> None:
    from training.train import train

    train_config, model_config = configs_from_args(args)
    checkpoint = train(train_config, model_config, args.runs_dir / args.name, args.resume)
    if not args.no_export and int(os.environ.get("RANK", "0")) == 0:
        _export(checkpoint, args.models_dir / args.name, args)
        print(
            f"serve it: python -m service --model-dir {args.models_dir}, or to a running service "
            "on that folder: POST /v1/admin/reload"
        )


def _export(checkpoint: Path, out: Path, args: argparse.Namespace) -> None:
    from training.export import export_bundle

    calibration = CalibrationConfig(ood_images=args.ood_images)
    manifest = export_bundle(
        checkpoint, out, samples=args.samples, calibration=calibration, int8=args.int8
    )
    epoch = manifest.training["exported_epoch"]
    print(f"bundle written to {out} (epoch {epoch}, best validation loss): {manifest.metrics}")


def cmd_export(args: argparse.Namespace) -> None:
    _export(args.checkpoint, args.out, args)


def cmd_classifier(args: argparse.Namespace) -> None:
    from training.classifier import CLASSIFIER_DIR, train_and_save
    from training.datasets.catalog import load_dataset

    data = load_dataset(args.dataset, Path(args.data_dir) if args.data_dir else None)
    record = train_and_save(data, args.epochs, args.seed, args.out_dir or CLASSIFIER_DIR)
    print(record)


def cmd_samplers(args: argparse.Namespace) -> None:
    from training.export import refit_samplers
    from training.quality import describe

    data = _bundle_dataset(args.model_dir, args.data_dir)
    manifest = refit_samplers(args.model_dir, data, args.samples, args.seed)
    print(describe(manifest))


def cmd_calibrate(args: argparse.Namespace) -> None:
    from training.anomaly import calibrate, describe

    settings = CalibrationConfig(args.elbo_samples, args.nll_samples, args.seed, args.ood_images)
    for model_dir in args.model_dir:
        data = _bundle_dataset(model_dir, args.data_dir)
        manifest = calibrate(model_dir, data, settings)
        assert manifest.anomaly is not None
        print(f"{model_dir}: anomaly calibration on {len(data.val)} validation images")
        print(describe(manifest.anomaly))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from training.anomaly import anomaly_table
    from training.quality import evaluate_bundle

    data = _bundle_dataset(args.model_dir, args.data_dir)
    print(evaluate_bundle(args.model_dir, data.test, args.samples, args.seed))
    print(anomaly_table(args.model_dir, data))


def _bundle_dataset(model_dir: Path, data_dir: str | None) -> DatasetSplits:
    from training.train import bundle_dataset
    from vae_core.bundle import read_manifest

    return bundle_dataset(read_manifest(model_dir), data_dir)


def cmd_quantize(args: argparse.Namespace) -> None:
    from training.quantize import describe, quantize_bundle

    for model_dir in args.model_dir:
        verdicts = quantize_bundle(model_dir, _bundle_dataset(model_dir, args.data_dir))
        print(f"{model_dir}: int8 against fp32\n{describe(verdicts)}")


def cmd_report(args: argparse.Namespace) -> None:
    from training.report import write_report

    for path in write_report(args.model_dir, args.out, args.data_dir):
        print(path)


def cmd_map(args: argparse.Namespace) -> None:
    from training.map_export import rebuild_latent_map

    for model_dir in args.model_dir:
        data = _bundle_dataset(model_dir, args.data_dir)
        manifest = rebuild_latent_map(model_dir, data, args.points)
        print(f"{model_dir}: latent map of {manifest.latent_map}")


def cmd_faces(args: argparse.Namespace) -> None:
    from training.faces.writer import generate_faces

    root = generate_faces(
        args.out,
        args.count,
        seed=args.seed,
        layout=args.layout,
        zip_images=args.zip,
        workers=args.workers,
    )
    print(f"{args.count} faces written to {root}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    p = sub.add_parser("export", help="export a checkpoint as a bundle")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="bundle folder, e.g. models/my-vae")
    _export_arguments(p)
    p = sub.add_parser("report", help="write a bundle's figures (PNG)")
    p.add_argument("model_dir", type=Path)
    p.add_argument("--out", type=Path, help="figure folder (default docs/figures/<name>)")
    p.add_argument("--data-dir", help="dataset folder, as for train")
    p = sub.add_parser("map", help="add (or rebuild) bundles' latent maps from their test sets")
    p.add_argument("model_dir", type=Path, nargs="+", help="bundle folders, e.g. models/my-vae")
    p.add_argument("--data-dir", type=Path, help="dataset folder, as for train")
    p.add_argument("--points", type=int, default=MAX_POINTS, help="test images on the map")
    p = sub.add_parser(
        "quantize", help="write bundles' int8 graphs, each only if it passes the quality gate"
    )
    p.add_argument("model_dir", type=Path, nargs="+", help="bundle folders, e.g. models/my-vae")
    p.add_argument("--data-dir", help="dataset folder, as for train")
    p = sub.add_parser("faces", help="generate a CelebA-format dataset of drawn faces")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layout", choices=list(CELEBA_LAYOUTS), default="official")
    p.add_argument("--zip", action="store_true", help="write img_align_celeba.zip")
    p.add_argument("--workers", type=int, default=2, help="drawing processes")
    _measure_parsers(sub)
    return parser


def _measure_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classifier", help="train the feature network that evaluation uses")
    p.add_argument("--dataset", choices=sorted(NETWORKS), default="fashion-mnist")
    p.add_argument("--data-dir", help="dataset folder, as for train")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out-dir", type=Path, help="where the weights go (default training/classifiers/)"
    )
    for command, text in (
        ("samplers", "fit a bundle's samplers to its training codes, measure and record them"),
        ("evaluate", "measure a bundle on the test set and compare with what it records"),
    ):
        p = sub.add_parser(command, help=text)
        p.add_argument("model_dir", type=Path)
        p.add_argument("--data-dir", help="dataset folder, as for train")
        p.add_argument("--seed", type=int, default=0, help="seed of every sampler's codes")
        _samples_argument(p)
    _calibrate_parser(sub)


def _calibrate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="score bundles' validation images for anomaly p-values, and evaluate"
    )
    p.add_argument("model_dir", type=Path, nargs="+", help="bundle folders, e.g. models/my-vae")
    p.add_argument("--data-dir", help="dataset folder, as for train")
    p.add_argument(
        "--elbo-samples",
        type=int,
        default=CalibrationConfig.elbo_samples,
        help=f"posterior samples of elbo and complexity (1..{MAX_SCORE_SAMPLES})",
    )
    p.add_argument(
        "--nll-samples",
        type=int,
        default=CalibrationConfig.nll_samples,
        help=f"importance samples of nll (1..{MAX_SCORE_SAMPLES})",
    )
    p.add_argument(
        "--seed", type=int, default=CalibrationConfig.seed, help="seed of the fixed noise"
    )
    _ood_images_argument(p)


def _ood_images_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ood-images",
        type=int,
        default=CalibrationConfig.ood_images,
        help="images per out-of-distribution set of the anomaly evaluation (0: calibrate only)",
    )


COMMANDS = {
    "train": cmd_train,
    "export": cmd_export,
    "report": cmd_report,
    "map": cmd_map,
    "quantize": cmd_quantize,
    "faces": cmd_faces,
    "classifier": cmd_classifier,
    "samplers": cmd_samplers,
    "calibrate": cmd_calibrate,
    "evaluate": cmd_evaluate,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
