"""`python -m bench.chunks`: how many rows one ONNX Runtime run should take (the service's
`VAE_SERVE_MAX_ROWS_PER_RUN`). For each shipped model and each slice size, a 256-row decode and
encode as the service runs them (arena off, one intra-op thread, slices joined): rows per second,
and the peak resident memory the run added, each size in a fresh process so that no allocator
state carries over. Writes bench/results/chunks-<stamp>.json and .md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import ROOT, results_stem, write_results

SIZES = (8, 16, 32, 64, 128, 256)
ROWS = 256


def measure(model_dir: Path, rows_per_run: int, seconds: float) -> dict[str, float]:
    """In this (fresh) process: peak RSS growth and rows/s of 256-row decodes and encodes."""
    from service.runtime import RuntimeOptions, load_model, return_freed_memory

    return_freed_memory()
    model = load_model(model_dir, RuntimeOptions(max_rows=rows_per_run))
    rng = np.random.default_rng(0)
    z = rng.standard_normal((ROWS, model.latent_dim), dtype=np.float32)
    images = rng.random((ROWS, *model.image_shape), dtype=np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {}
    for name, job in (
        ("decode", lambda: model.decode(z)),
        ("encode", lambda: model.encode(images)),
    ):
        count, start = 0, time.perf_counter()
        while count < 3 or (time.perf_counter() - start < seconds and count < 1000):
            job()
            count += 1
        result[f"{name}_rows_per_s"] = count * ROWS / (time.perf_counter() - start)
    result["peak_growth_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chunks", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per size and graph")
    parser.add_argument("--models", nargs="+", default=["fashion-vae-32d", "faces-vae-200d"])
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    with context.Pool(1, maxtasksperchild=1) as pool:
        for model in args.models:
            for size in SIZES:
                work = (ROOT / "models" / model, size, args.seconds)
                row = {"model": model, "rows_per_run": size, **pool.apply(measure, work)}
                print(row, flush=True)
                rows.append(row)
    lines = [
        f"{ROWS}-row requests, one thread, arena off; peak = resident memory one run added",
        "",
        "| model | rows per run | decode rows/s | encode rows/s | peak MB |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['rows_per_run']} | {r['decode_rows_per_s']:.0f} "
        f"| {r['encode_rows_per_s']:.0f} | {r['peak_growth_mb']:.0f} |"
        for r in rows
    ]
    stem = results_stem("chunks")
    write_results(stem, rows, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
