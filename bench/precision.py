"""fp32 and int8 side by side, in the run of `python -m bench`, for the book's decoder and the large
one (PRECISION_MODELS):

- raw ONNX Runtime, one thread: the thread-CPU time of one run of each graph (decoder and encoder)
  at batch 1 and 32, fp32 and int8 taken in turns (training.speed);
- decode at `--clients` clients: the service at VAE_SERVE_PRECISION=fp32 and =int8, the naive app
  given decoder.onnx and decoder.int8.onnx, and MLServer given each (`--peers`), all started
  together and loaded in turns, as the load benchmark's head-to-head (p50, p99).

The issue's targets are reported as ratios measured in this run, never asserted. A bundle without
int8 graphs (`make quantize-shipped`) is reported as such.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import Call
from liveserver.server import Server
from training.speed import graph_seconds, one_thread_session
from vae_core.bundle import read_manifest
from vae_core.precision import FP32_FILES, INT8_FILES
from vae_core.vocabulary import GraphName, Precision

PRECISION_MODELS = ("fashion-vae-2d", "fashion-vae-32d")
LARGE = "fashion-vae-32d"
BATCHES = (1, 32)
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8")


@dataclass(frozen=True)
class RawTiming:
    """Thread-CPU ms per run of one graph at one batch size, fp32 and int8."""

    model: str
    graph: GraphName
    batch: int
    fp32_ms: float
    int8_ms: float

    @property
    def speedup(self) -> float:
        return self.fp32_ms / self.int8_ms


@dataclass(frozen=True)
class LoadRow:
    """Decode at `clients` clients on one server at one precision."""

    model: str
    server: str  # "service", "naive FastAPI", "MLServer 1.7.1"
    precision: Precision
    result: Any  # bench.__main__.LoadResult


@dataclass(frozen=True)
class SideBySide:
    raw: list[RawTiming]
    load: list[LoadRow]
    missing: list[str]  # models without int8 graphs


def side_by_side(config: Any, stem: Path) -> SideBySide:
    """Every row, model by model (`config`: the load benchmark's Config)."""
    raw: list[RawTiming] = []
    load: list[LoadRow] = []
    missing = []
    for model in PRECISION_MODELS:
        if read_manifest(config.model_dir / model).int8 is None:
            missing.append(model)
            continue
        raw += raw_timings(config.model_dir / model)
        load += load_rows(dataclasses.replace(config, model=model), stem)
    return SideBySide(raw, load, missing)


def raw_timings(bundle_dir: Path) -> list[RawTiming]:
    """Each graph of the bundle at each batch size, fp32 and int8 in turns, on inputs of the kind
    it serves (codes from N(0, I), images in [0, 1])."""
    manifest = read_manifest(bundle_dir)
    rng = np.random.default_rng(0)
    inputs: dict[GraphName, np.ndarray] = {
        "decoder": rng.standard_normal((max(BATCHES), manifest.latent_dim)),
        "encoder": rng.random((max(BATCHES), *manifest.image_shape)),
    }
    assert manifest.int8 is not None
    rows = []
    for graph, file in manifest.int8.files().items():
        sessions = [one_thread_session(str(bundle_dir / f)) for f in (FP32_FILES[graph], file)]
        for batch in BATCHES:
            fp32, int8 = graph_seconds(sessions, inputs[graph][:batch])
            rows.append(RawTiming(bundle_dir.name, graph, batch, fp32 * 1000, int8 * 1000))
            print(f"  raw ORT {bundle_dir.name} {graph} b={batch}: {fp32 / int8:.2f}x", flush=True)
    return rows


def load_rows(config: Any, stem: Path) -> list[LoadRow]:
    """The service, the naive app and MLServer, each at fp32 and int8, started together and
    loaded in turns (the load benchmark's `start` and `head_to_head`)."""
    from bench.__main__ import MLSERVER, NAIVE, SERVICE, head_to_head, start

    servers = [SERVICE, NAIVE] + ([MLSERVER] if config.peers is not None else [])
    rows = [(server, precision) for server in servers for precision in PRECISIONS]
    started: list[tuple[Server, dict[str, Call]]] = []
    try:
        for server, precision in rows:
            tagged = stem.with_name(f"{stem.name}-{config.model}-{precision}")
            started.append(start(_contender(server, precision, config, tagged), config, tagged))
        results = head_to_head([f"{s}, {p}" for s, p in rows], started, config)
    finally:
        for process, _ in started:
            process.stop()
    return [
        LoadRow(config.model, server, precision, result)
        for (server, precision), result in zip(rows, results, strict=True)
    ]


def _contender(server: str, precision: Precision, config: Any, stem: Path) -> Any:
    """The service at `precision`, or a baseline given the decoder file of `precision`."""
    from bench.__main__ import NAIVE, SERVICE, Contender, mlserver

    if server == SERVICE:
        return Contender(SERVICE, (), {"VAE_SERVE_PRECISION": precision})
    files = INT8_FILES if precision == "int8" else FP32_FILES
    decoder = str(config.model_dir / config.model / files["decoder"])
    if server == NAIVE:
        command = (sys.executable, "-m", "uvicorn", "bench.naive:app", "--host", "127.0.0.1",
                   "--port", "{port}")  # fmt: skip
        return Contender(NAIVE, (), {"BENCH_DECODER": decoder}, command=command, ready="/docs")
    return mlserver(config, stem.with_name(f"{stem.name}-work"), decoder)


# ----------------------------------------------------------------------------------- report


def targets(rows: SideBySide) -> list[dict[str, Any]]:
    """Issue 22's targets on the large model, as measured in this run (None: not run)."""
    from bench.__main__ import MLSERVER, NAIVE, SERVICE

    raw = {(r.graph, r.batch): r.speedup for r in rows.raw if r.model == LARGE}
    rate = {(r.server, r.precision): r.result for r in rows.load if r.model == LARGE}
    service = rate.get((SERVICE, "int8"))

    def versus(server: str, precision: Precision) -> float | None:
        other = rate.get((server, precision))
        return service.throughput / other.throughput if service and other else None

    checks = [
        ("raw ORT, decoder, batch 1: int8 >= 2.0x fp32", raw.get(("decoder", 1)), 2.0, "x"),
        ("raw ORT, decoder, batch 32: int8 >= 1.8x fp32", raw.get(("decoder", 32)), 1.8, "x"),
        ("raw ORT, encoder, batch 32: int8 >= 1.5x fp32", raw.get(("encoder", 32)), 1.5, "x"),
        ("service decode at int8 >= 1.8x at fp32", versus(SERVICE, "fp32"), 1.8, "x"),
        ("service at int8 >= 1.5x the naive app on int8", versus(NAIVE, "int8"), 1.5, "x"),
        ("service at int8 >= 3x MLServer on int8", versus(MLSERVER, "int8"), 3.0, "x"),
        ("service decode p99 at int8 <= 35 ms", service.p99_ms if service else None, 35.0, "ms"),
    ]
    return [
        {"target": target, "unit": unit, "measured": None if value is None else round(value, 3),
         "pass": None if value is None else (value >= limit if unit == "x" else value <= limit)}
        for target, value, limit, unit in checks
    ]  # fmt: skip


def markdown(rows: SideBySide) -> str:
    lines = ["", "### fp32 and int8 side by side", ""]
    lines += [f"{model}: no int8 graphs (make quantize-shipped)" for model in rows.missing]
    lines += [
        "| model | graph | batch | fp32 ms | int8 ms | int8 speed-up |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.model} | {r.graph} | {r.batch} | {r.fp32_ms:.3f} | {r.int8_ms:.3f} "
        f"| {r.speedup:.2f}x |"
        for r in rows.raw
    ]
    lines += ["", "(raw ONNX Runtime, one thread: thread-CPU time per run, in turns)", ""]
    lines += [
        "| model | server | precision | req/s | p50 ms | p99 ms | errors | ÷ its fp32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fp32 = {(r.model, r.server): r.result.throughput for r in rows.load if r.precision == "fp32"}
    for r in rows.load:
        result = r.result
        lines.append(
            f"| {r.model} | {r.server} | {r.precision} | {result.throughput:.0f} "
            f"| {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.errors} "
            f"| {result.throughput / fp32[(r.model, r.server)]:.2f} |"
        )
    verdict = {True: "yes", False: "NO", None: "not run"}
    lines += ["", "| target (issue 22, fashion-vae-32d) | measured | pass |", "|---|---|---|"]
    lines += [
        f"| {c['target']} | {c['measured']} {c['unit']} | {verdict[c['pass']]} |"
        for c in targets(rows)
    ]
    return "\n".join(lines) + "\n"


def record(rows: SideBySide) -> dict[str, Any]:
    """The rows for the run's JSON."""
    load = [
        {"model": r.model, "server": r.server, "precision": r.precision}
        | dataclasses.asdict(r.result)
        for r in rows.load
    ]
    raw = [dataclasses.asdict(r) | {"speedup": r.speedup} for r in rows.raw]
    return {"raw_onnxruntime": raw, "load": load, "missing_int8": rows.missing,
            "targets": targets(rows)}  # fmt: skip
