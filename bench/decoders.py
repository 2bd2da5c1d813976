"""`python -m bench.decoders`: ONNX Runtime decoder throughput, ConvTranspose vs upsample + conv.

For each shipped architecture (the book's Fashion-MNIST VAE and the shipped faces VAE) it builds
both decoders (`--upsample conv_transpose`, the default, and `resize_conv`: nearest 2x upsample then
a 3x3 conv), exports them exactly as `training.export` does, and times single-threaded ONNX Runtime
runs at batch 1 and 64 in one process. Speed does not depend on the weights, so the models are
untrained; both graphs have the same inputs, outputs and image size, so the service serves either.
Writes bench/results/decoders-<stamp>.json and .md. Needs the training extra (torch).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import get_args

import numpy as np
import onnxruntime as ort
import torch

from bench.harness import results_stem, write_results
from training.config import PRESETS, ModelConfig
from training.export import export_onnx
from training.models import build_model
from training.vocabulary import Upsample

ARCHITECTURES = {
    "fashion (book, 2-D)": dataclasses.replace(PRESETS["fashion"], latent_dim=2),
    "faces (shipped, 200-D)": dataclasses.replace(
        PRESETS["faces"], widths=(32, 32, 64, 64, 64), image_size=64, latent_dim=200
    ),
}
UPSAMPLES: tuple[Upsample, ...] = get_args(Upsample)
BATCHES = (1, 64)


def decoder_session(config: ModelConfig, folder: Path) -> ort.InferenceSession:
    torch.manual_seed(0)
    export_onnx(build_model(config).eval(), folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(folder / "decoder.onnx"), options)


def images_per_second(
    session: ort.InferenceSession, latent_dim: int, batch: int, seconds: float
) -> float:
    z = np.random.default_rng(0).standard_normal((batch, latent_dim)).astype(np.float32)
    session.run(None, {"z": z})  # warm-up
    runs, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds and runs < 100_000:
        session.run(None, {"z": z})
        runs += 1
    return runs * batch / elapsed


def measure(seconds: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, base in ARCHITECTURES.items():
        for upsample in UPSAMPLES:
            config = dataclasses.replace(base, upsample=upsample)
            with tempfile.TemporaryDirectory() as scratch:
                session = decoder_session(config, Path(scratch))
                for batch in BATCHES:
                    rate = images_per_second(session, config.latent_dim, batch, seconds)
                    rows.append({"architecture": name, "upsample": upsample, "batch": batch,
                                 "images_per_s": round(rate, 1)})  # fmt: skip
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    lines = ["| architecture | batch | ConvTranspose img/s | upsample + conv img/s | speed-up |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name in ARCHITECTURES:
        for batch in BATCHES:
            rate = {r["upsample"]: r["images_per_s"] for r in rows
                    if r["architecture"] == name and r["batch"] == batch}  # fmt: skip
            old, new = float(rate["conv_transpose"]), float(rate["resize_conv"])  # type: ignore[arg-type]
            lines.append(f"| {name} | {batch} | {old:,.0f} | {new:,.0f} | {new / old:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decoders", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per case")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = measure(args.seconds)
    table = markdown(rows)
    print(table, end="")
    write_results(results_stem("decoders"), rows, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
