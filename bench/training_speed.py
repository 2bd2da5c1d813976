"""`python -m bench.training_speed`: samples/s of one training step for the shipped architectures on
the CPU, in the default layout, channels-last, torch.compile, and both, measured in one run.

A step is what `training.train.train_epoch` does per batch: forward with the reparameterization
noise, the loss (`training.losses.autoencoder_loss`), backward and an Adam update, on random inputs
of the real shape (speed does not depend on the pixels). Writes bench/results/training-<stamp>.json
and .md. Needs the training extra (torch); compiling takes a minute or so per architecture.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from bench.harness import results_stem, write_results
from training.config import PRESETS, ModelConfig
from training.losses import autoencoder_loss
from training.models import build_model

ARCHITECTURES = {
    "fashion VAE (book, 2-D)": (dataclasses.replace(PRESETS["fashion"], latent_dim=2), "bce"),
    "faces VAE (shipped, 200-D)": (
        dataclasses.replace(PRESETS["faces"], widths=(32, 32, 64, 64, 64), latent_dim=200),
        "mse",
    ),
}
VARIANTS = {
    "default": (False, False),
    "channels-last": (True, False),
    "torch.compile": (False, True),
    "channels-last + compile": (True, True),
}
BATCH = 128


def samples_per_second(
    config: ModelConfig, reconstruction: str, channels_last: bool, compiled: bool, steps: int
) -> float:
    torch.manual_seed(0)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(config).to(memory_format=memory)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_model = torch.compile(model) if compiled else model
    x = torch.rand(BATCH, config.channels, config.image_size, config.image_size)
    x = x.contiguous(memory_format=memory)
    noise = torch.Generator().manual_seed(0)

    def step() -> None:
        terms = autoencoder_loss(step_model(x, noise), x, 1.0, reconstruction)  # type: ignore[arg-type]
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        optimizer.step()

    for _ in range(3):  # warm-up, and compilation
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH / (time.perf_counter() - start)


def measure(steps: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, (config, reconstruction) in ARCHITECTURES.items():
        for variant, (channels_last, compiled) in VARIANTS.items():
            rate = samples_per_second(config, reconstruction, channels_last, compiled, steps)
            rows.append({"architecture": name, "variant": variant, "samples_per_s": round(rate, 1)})
            print(f"{name:28} {variant:24} {rate:8.1f} samples/s", flush=True)
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    header = " | ".join(VARIANTS)
    lines = [f"| architecture | {header} |", "|---" * (len(VARIANTS) + 1) + "|"]
    for name in ARCHITECTURES:
        rates = {r["variant"]: float(r["samples_per_s"]) for r in rows if r["architecture"] == name}  # type: ignore[arg-type]
        base = rates["default"]
        cells = [f"{rates[v]:,.0f} ({rates[v] / base:.2f}x)" for v in VARIANTS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.training_speed", description=__doc__)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per case")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = measure(args.steps)
    table = markdown(rows)
    print(f"batch {BATCH}, {args.threads} threads\n{table}", end="")
    write_results(results_stem("training"), rows, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
