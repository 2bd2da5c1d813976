"""`python -m bench.folder_dataset`: a folder of 200,000 images trains at 64x64 on this machine.

The folder (written once, then reused from `--data`) holds generated faces (`training.faces`:
178x218 RGB JPEGs with true binary attributes) and a `metadata.csv` beside them, Hugging Face's
`imagefolder` layout, with a column for each attribute the faces vary in. The training process is
then started twice, each time from nothing but the folder and the cache directory, as `python -m
training train --dataset folder` starts: it loads the dataset as a run does
(`training.train.load_run_dataset`) and takes the loop's first step (`training.train.train_epoch`
over one batch of 128, the shipped faces model's architecture):

1. cold: no cache. The folder is listed, the image modes read, every image decoded on worker
   processes into the cache;
2. warm: the same again, the cache now mapped. After its first step, this run also reads every
   training image once, batch by batch, as an epoch does.

Measured: decode throughput (images/s of the decoding pass alone), cache size, time from process
start to the first training step (cold and warm), and the peak resident memory of the training
process tree (sampled every 50 ms): VmRSS summed over the processes, and its anonymous part (the
pages the kernel cannot drop; mapped cache pages are file-backed and can be). Writes
bench/results/folder-dataset-<stamp>.json and .md. `--wait-quiet` first waits (bounded) for the
1-minute load average to drop below 0.5; the load is recorded either way.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import ROOT, results_stem, write_results
from liveserver.processes import process_tree

QUIET_LOAD = 0.5
SAMPLE_S = 0.05
CHILD_TIMEOUT_S = 3600.0
BATCH = 128
IMAGE_SIZE = 64


# ------------------------------------------------------------------------------------ the folder


def faces_folder(data: Path, count: int, workers: int) -> Path:
    """`count` generated faces with a metadata.csv, written under `data` unless already there."""
    folder = data / f"faces-{count}" / "img_align_celeba"
    if (folder / "metadata.csv").is_file():
        return folder
    from training.datasets.celeba import CELEBA_ATTRIBUTES, read_attributes
    from training.faces.writer import generate_faces

    shutil.rmtree(data / f"faces-{count}", ignore_errors=True)
    root = generate_faces(data / f"faces-{count}", count, seed=0, workers=workers)
    table = read_attributes(root / "list_attr_celeba.txt")
    drawn = table.labels.any(axis=0) & ~table.labels.all(axis=0)  # the rest are never drawn
    labels = table.labels[:, drawn].astype(int).tolist()
    with (folder / "metadata.csv.part").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file_name", *np.asarray(CELEBA_ATTRIBUTES)[drawn].tolist()])
        for name, row in zip(table.image_names, labels, strict=True):
            writer.writerow([name, *row])
    (folder / "metadata.csv.part").rename(folder / "metadata.csv")
    return folder


# ------------------------------------------------------------------------- the training process


def child(folder: Path, cache_dir: Path, read_epoch: bool) -> None:
    """One training process's start, each stage printed as a JSON line with its wall time."""
    started = time.time()
    import torch

    from training.config import PRESETS, TrainConfig
    from training.datasets import cache
    from training.distributed import init_distributed
    from training.models import build_model
    from training.train import load_run_dataset, train_epoch

    stages: dict[str, float] = {}
    cache.decode_files = _timed(cache.decode_files, stages, "decode_s")
    cache.all_grayscale = _timed(cache.all_grayscale, stages, "modes_s")
    _say("imported", started)
    config = TrainConfig(
        name="bench", dataset="folder", data_dir=str(folder), image_size=IMAGE_SIZE,
        batch_size=BATCH, max_train_images=BATCH, epochs=1, reconstruction="mse",
        cache_dir=str(cache_dir),
    )  # fmt: skip
    data = load_run_dataset(config)
    _say("loaded", started, images=sum(map(len, (data.train, data.val, data.test))), **stages)
    model = build_model(_faces_config(PRESETS["faces"], data.preprocessing.channels))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    train_epoch(model, optimizer, data, config, 0, init_distributed())
    _say("first_step", started)
    if read_epoch:
        _read_every_training_image(data)
        _say("epoch_read", started, images=len(data.train))


def _faces_config(preset: Any, channels: int) -> Any:
    """The shipped faces model's architecture (faces-vae-200d)."""
    import dataclasses

    return dataclasses.replace(
        preset,
        channels=channels,
        image_size=IMAGE_SIZE,
        widths=(32, 32, 64, 64, 64),
        latent_dim=200,
    )


def _read_every_training_image(data: Any) -> None:
    """What an epoch reads: every training image, in shuffled batches, as float input."""
    import numpy as np

    order = np.random.default_rng(0).permutation(len(data.train))
    for start in range(0, len(order), BATCH):
        data.preprocessing.to_tensor(data.train.pixels[order[start : start + BATCH]])


def _timed(function: Callable[..., Any], stages: dict[str, float], key: str) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            stages[key] = stages.get(key, 0.0) + time.perf_counter() - start

    return timed


def _say(event: str, started: float, **values: object) -> None:
    print(json.dumps({"event": event, "at_s": time.time() - started, **values}), flush=True)


# ------------------------------------------------------------------------------ the measurement


def run_child(folder: Path, cache_dir: Path, read_epoch: bool) -> dict[str, Any]:
    """Start a training process, sample its tree's memory until it ends; its stages and peaks."""
    command = [sys.executable, "-m", "bench.folder_dataset", "--child", "--folder", str(folder)]
    command += ["--cache-dir", str(cache_dir)] + (["--read-epoch"] if read_epoch else [])
    started = time.time()
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        peak_rss = peak_anon = 0.0
        while process.poll() is None and time.time() - started < CHILD_TIMEOUT_S:
            rss, anon = tree_memory_mb(process.pid)
            peak_rss, peak_anon = max(peak_rss, rss), max(peak_anon, anon)
            time.sleep(SAMPLE_S)
        if process.poll() is None:
            process.kill()
        out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the training process failed ({process.returncode})")
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    events = {line["event"]: line for line in lines}
    return {"events": events, "peak_rss_mb": peak_rss, "peak_anon_mb": peak_anon}


def tree_memory_mb(root: int) -> tuple[float, float]:
    """(VmRSS, RssAnon) of `root` and its descendants, summed, in MB."""
    status = {pid: _status(pid) for pid in map(int, filter(str.isdigit, os.listdir("/proc")))}
    known = {pid: fields for pid, fields in status.items() if fields}
    tree = process_tree(root, {pid: int(f["PPid"]) for pid, f in known.items()})
    rss = sum(int(known[p].get("VmRSS", 0)) for p in tree if p in known)
    anon = sum(int(known[p].get("RssAnon", 0)) for p in tree if p in known)
    return rss / 1024, anon / 1024


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = (line.partition(":") for line in lines)
    return {key: value.split()[0] for key, _, value in fields if value.split()}


def wait_quiet(limit_s: float) -> float:
    """Wait until the 1-minute load average is below QUIET_LOAD, at most `limit_s`; the wait."""
    start = time.time()
    while load_average()[0] >= QUIET_LOAD and time.time() - start < limit_s:
        time.sleep(15)
    return time.time() - start


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def directory_mb(path: Path) -> float:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) / 1e6


def measure(folder: Path, cache_dir: Path) -> dict[str, Any]:
    shutil.rmtree(cache_dir, ignore_errors=True)
    load_before = load_average()
    cold = run_child(folder, cache_dir, read_epoch=False)
    warm = run_child(folder, cache_dir, read_epoch=True)
    loaded = cold["events"]["loaded"]
    return {
        "images": loaded["images"],
        "image_size": IMAGE_SIZE,
        "cpus": os.cpu_count(),
        "decode_images_per_s": loaded["images"] / loaded["decode_s"],
        "modes_s": loaded["modes_s"],
        "cold_load_s": loaded["at_s"] - cold["events"]["imported"]["at_s"],
        "cold_first_step_s": cold["events"]["first_step"]["at_s"],
        "warm_load_s": warm["events"]["loaded"]["at_s"] - warm["events"]["imported"]["at_s"],
        "warm_first_step_s": warm["events"]["first_step"]["at_s"],
        "warm_import_s": warm["events"]["imported"]["at_s"],
        "step_s": warm["events"]["first_step"]["at_s"] - warm["events"]["loaded"]["at_s"],
        "warm_decoded": "decode_s" in warm["events"]["loaded"],
        "epoch_read_s": warm["events"]["epoch_read"]["at_s"] - warm["events"]["first_step"]["at_s"],
        "cache_mb": directory_mb(cache_dir),
        "cold_peak_rss_mb": cold["peak_rss_mb"],
        "cold_peak_anon_mb": cold["peak_anon_mb"],
        "warm_peak_rss_mb": warm["peak_rss_mb"],
        "warm_peak_anon_mb": warm["peak_anon_mb"],
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def markdown(r: dict[str, Any]) -> str:
    load_before, load_after = r["load_average_before"][0], r["load_average_after"][0]
    warm = (
        f"imports {r['warm_import_s']:.1f} s, load {r['warm_load_s']:.1f} s, model and step "
        f"{r['step_s']:.1f} s; decoded again: {r['warm_decoded']}"
    )
    cold_mb = _mb(r["cold_peak_rss_mb"], r["cold_peak_anon_mb"])
    warm_mb = _mb(r["warm_peak_rss_mb"], r["warm_peak_anon_mb"])
    rows = [
        ("images (64x64 RGB, from 178x218 JPEGs)", f"{r['images']:,}"),
        ("decode throughput, decoding pass alone", f"{r['decode_images_per_s']:,.0f} images/s"),
        ("reading the image modes (once per file list)", f"{r['modes_s']:.1f} s"),
        ("cold load (list, modes, decode, write the cache)", f"{r['cold_load_s']:.1f} s"),
        ("cache size", f"{r['cache_mb']:,.0f} MB"),
        ("time to the first training step, cold", f"{r['cold_first_step_s']:.1f} s"),
        ("time to the first training step, re-run", f"{r['warm_first_step_s']:.1f} s ({warm})"),
        ("reading every training image once, re-run", f"{r['epoch_read_s']:.1f} s"),
        ("peak RSS of the process tree, cold (anonymous part)", cold_mb),
        ("peak RSS, re-run and an epoch's reads (anonymous part)", warm_mb),
        ("CPUs; 1-minute load before, after", f"{r['cpus']}; {load_before:.2f}, {load_after:.2f}"),
    ]  # fmt: skip
    return "| measure | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)


def _mb(rss: float, anon: float) -> str:
    return f"{rss:,.0f} MB ({anon:,.0f} MB)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.folder_dataset", description=__doc__)
    parser.add_argument("--count", type=int, default=200_000, help="images in the folder")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench", help="folder home")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="drawing faces")
    parser.add_argument("--wait-quiet", type=float, default=0.0, help="seconds to wait at most")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--read-epoch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.folder, args.cache_dir, args.read_epoch)
        return 0
    folder = faces_folder(args.data, args.count, args.workers)
    waited = wait_quiet(args.wait_quiet) if args.wait_quiet else 0.0
    result = measure(folder, args.data / f"cache-{args.count}") | {"waited_for_quiet_s": waited}
    table = markdown(result)
    print(table, end="")
    write_results(results_stem("folder-dataset"), result, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
