"""`python -m training {train,export,report,map,faces}`: the training command line."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Literal

from training.config import PRESETS, ModelConfig, TrainConfig
from training.errors import TrainingError
from vae_core.latent_map import MAX_POINTS

DATASET_DEFAULTS: dict[str, tuple[str, Literal["bce", "mse"]]] = {
    "fashion-mnist": ("fashion", "bce"),
    "celeba": ("faces", "mse"),
}


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an AE or VAE, then export its bundle")
    p.add_argument("--name", required=True, help="bundle name: models/<name>, runs/<name>")
    p.add_argument("--dataset", choices=sorted(DATASET_DEFAULTS), default="fashion-mnist")
    p.add_argument("--data-dir", help="dataset folder (else $FASHION_MNIST_DIR / $CELEBA_DIR, ...)")
    p.add_argument("--image-size", type=int, default=64, help="CelebA side: 32, 64 or 128")
    p.add_argument("--arch", choices=sorted(PRESETS), help="architecture preset (by dataset)")
    p.add_argument("--model", choices=["ae", "vae"], default="vae")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--widths", help="comma-separated conv widths, e.g. 32,64,128")
    p.add_argument("--norm", choices=["none", "batch"])
    p.add_argument("--upsample", choices=["conv_transpose", "resize_conv"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    p.add_argument("--reconstruction", choices=["bce", "mse"], help="by dataset: bce / mse")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train-images", type=int, help="train on the first N images only")
    p.add_argument("--nll-samples", type=int, default=50, help="importance samples for test NLL")
    p.add_argument("--models-dir", type=Path, default=Path("models"))
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--channels-last", action="store_true", help="NHWC activations (faster on CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--resume", action="store_true", help="continue from runs/<name>/ckpt.pt")
    p.add_argument("--no-export", action="store_true", help="train only")


def configs_from_args(args: argparse.Namespace) -> tuple[TrainConfig, ModelConfig]:
    """Preset by dataset, then explicit flags on top."""
    preset, reconstruction = DATASET_DEFAULTS[args.dataset]
    overrides = {
        "kind": args.model,
        "latent_dim": args.latent_dim,
        "norm": args.norm,
        "upsample": args.upsample,
        "widths": tuple(int(w) for w in args.widths.split(",")) if args.widths else None,
    }
    model_config = dataclasses.replace(
        PRESETS[args.arch or preset], **{k: v for k, v in overrides.items() if v is not None}
    )
    if args.dataset == "celeba":
        model_config = dataclasses.replace(model_config, image_size=args.image_size)
    reconstruction_kind: Literal["bce", "mse"] = args.reconstruction or reconstruction
    train_config = TrainConfig(
        name=args.name,
        dataset=args.dataset,
        data_dir=args.data_dir,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        beta=args.beta,
        reconstruction=reconstruction_kind,
        seed=args.seed,
        max_train_images=args.max_train_images,
        nll_samples=args.nll_samples,
        channels_last=args.channels_last,
        compile=args.compile,
    )
    return train_config, model_config


def cmd_train(args: argparse.Namespace) -> None:
    from training.export import export_bundle
    from training.train import train

    train_config, model_config = configs_from_args(args)
    checkpoint = train(train_config, model_config, args.runs_dir / args.name, args.resume)
    if not args.no_export and int(os.environ.get("RANK", "0")) == 0:
        manifest = export_bundle(checkpoint, args.models_dir / args.name)
        print(f"bundle written to {args.models_dir / args.name}: {manifest.metrics}")


def cmd_export(args: argparse.Namespace) -> None:
    from training.export import export_bundle

    manifest = export_bundle(args.checkpoint, args.out)
    print(f"bundle written to {args.out}: {manifest.metrics}")


def cmd_report(args: argparse.Namespace) -> None:
    from training.report import write_report

    for path in write_report(args.model_dir, args.out, args.data_dir):
        print(path)


def cmd_map(args: argparse.Namespace) -> None:
    from training.latent_map import rebuild_latent_map

    for model_dir in args.model_dir:
        manifest = rebuild_latent_map(model_dir, args.data_dir, args.points)
        print(f"{model_dir}: latent map of {manifest.latent_map}")


def cmd_faces(args: argparse.Namespace) -> None:
    from training.faces import generate_faces

    root = generate_faces(
        args.out, args.count, seed=args.seed, layout=args.layout, zip_images=args.zip
    )
    print(f"{args.count} faces written to {root}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    p = sub.add_parser("export", help="export a checkpoint as a bundle")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="bundle folder, e.g. models/my-vae")
    p = sub.add_parser("report", help="write a bundle's figures (PNG)")
    p.add_argument("model_dir", type=Path)
    p.add_argument("--out", type=Path, help="figure folder (default docs/figures/<name>)")
    p.add_argument("--data-dir", help="dataset folder, as for train")
    p = sub.add_parser("map", help="add (or rebuild) bundles' latent maps from their test sets")
    p.add_argument("model_dir", type=Path, nargs="+", help="bundle folders, e.g. models/my-vae")
    p.add_argument("--data-dir", type=Path, help="dataset folder, as for train")
    p.add_argument("--points", type=int, default=MAX_POINTS, help="test images on the map")
    p = sub.add_parser("faces", help="generate a CelebA-format dataset of drawn faces")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layout", choices=["official", "kaggle"], default="official")
    p.add_argument("--zip", action="store_true", help="write img_align_celeba.zip")
    p.add_argument("--workers", type=int, default=2, help="drawing processes")
    return parser


COMMANDS = {
    "train": cmd_train,
    "export": cmd_export,
    "report": cmd_report,
    "map": cmd_map,
    "faces": cmd_faces,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
