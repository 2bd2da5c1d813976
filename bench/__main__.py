"""`python -m bench [--smoke] [--peers VENV] [--profile]`: the service under closed-loop HTTP load,
against its baselines, in one run; then fp32 and int8 side by side (bench/precision.py).

On free 127.0.0.1 ports it starts, one after the other: the service with default settings and
access logs on (every endpoint, decode at 16 and 64 clients), the naive FastAPI app
(bench/naive.py) on the same decoder, MLServer on the same decoder when `--peers` names a venv
that has it (`make bench-peers`), the service with access logs off, with 2 worker processes, and
with batching on. N concurrent keep-alive clients per row for a fixed duration (bounded in
requests and time). In the same run: raw in-process ONNX Runtime for the same work, the HTTP floor
(`GET /healthz`: no work, a constant body, behind the same middleware as every route), and the
memory of four maximum-size requests at once on the largest bundle. `--profile` samples the
service's threads with py-spy during an extra decode row. Writes bench/results/load-<stamp>.json and
.md (and -profile.txt). Exits 1 if any request failed; the targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import uvloop

from bench import overload, precision
from bench.anomaly import score_parts, score_work
from bench.harness import (
    ROOT,
    STEPS,
    Call,
    Connection,
    calls,
    encode_request,
    results_stem,
    write_results,
)
from liveserver.memory import (
    PEAK_GROWTH_MB,
    RETURNED_WITHIN_MB,
    MemoryUse,
    memory_under_largest_requests,
)
from liveserver.processes import free_port
from liveserver.server import Server
from vae_core.bundle import read_manifest

ENDPOINTS = ("encode", "decode", "sample", "edit", "interpolate", "reconstruct", "score")


@dataclass(frozen=True)
class Config:
    duration: float  # seconds per row
    clients: int
    many_clients: int  # the batching comparison
    batching_concurrency: int  # the batching server's inference_concurrency
    max_requests: int  # per row, whatever the duration
    model: str
    model_dir: Path
    peers: Path | None  # a venv with MLServer (make bench-peers), or None
    profile: bool  # an extra decode row of the service, sampled by py-spy


@dataclass
class LoadResult:
    name: str
    server: str  # "service", "naive FastAPI", "MLServer", "service, 2 workers", ...
    clients: int
    requests: int
    errors: int
    seconds: float
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rss_mb: float
    mean_batch: float  # mean rows per ONNX Runtime run of the server so far (vae_serve_batch_size)
    first_error: str | None = None


async def load(
    port: int, call: Call, clients: int, seconds: float, config: Config
) -> tuple[list[float], list[str]]:
    """Closed loop: `clients` connections, each sending its next request once answered."""
    latencies: list[float] = []
    errors: list[str] = []
    request = encode_request(call, port)
    end = time.perf_counter() + seconds

    async def client() -> None:
        connection = await Connection.open(port)
        try:
            while time.perf_counter() < end and len(latencies) + len(errors) < config.max_requests:
                start = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(connection.send(request), timeout=30)
                except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                    errors.append(repr(exc))
                    return  # the connection is in an unknown state
                if status == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors.append(f"{status} {body[:200]!r}")
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors


def run_load(
    server: Server, label: str, name: str, call: Call, clients: int, config: Config
) -> LoadResult:
    """One row: `clients` closed-loop clients on one server for the configured duration."""
    return summarise(server, label, name, clients, [measure(server, call, clients, config)])


Measured = tuple[list[float], list[str], float]  # latencies (s), errors, seconds


def measure(server: Server, call: Call, clients: int, config: Config, rounds: int = 1) -> Measured:
    start = time.perf_counter()
    seconds = config.duration / rounds
    latencies, errors = uvloop.run(load(server.port, call, clients, seconds, config))
    return latencies, errors, time.perf_counter() - start


def summarise(
    server: Server, label: str, name: str, clients: int, parts: list[Measured]
) -> LoadResult:
    """A row from one or more measured stretches of the same load on the same server."""
    latencies = [t for part in parts for t in part[0]]
    errors = [e for part in parts for e in part[1]]
    seconds = sum(part[2] for part in parts)
    ms = np.asarray(latencies or [float("nan")]) * 1000
    p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99))
    result = LoadResult(
        name, label, clients, len(latencies), len(errors), seconds, len(latencies) / seconds,
        p50, p95, p99, server.rss_mb(), server.mean_batch(), errors[0] if errors else None,
    )  # fmt: skip
    print(
        f"  {label:22} {name:12} c={clients:<3} {result.throughput:8.1f} req/s  p99 {p99:6.1f} ms"
        f"  errors {len(errors)}  mean batch {result.mean_batch:.2f}",
        flush=True,
    )
    return result


# ---------------------------------------------------------------------------- raw ONNX Runtime


def raw_throughput(config: Config) -> dict[str, float]:
    """The same work as each endpoint's request, ONNX Runtime only (no HTTP, JSON or PNG), one
    thread, in this process: requests' worth per second."""
    from service.runtime import RuntimeOptions, load_model

    model = load_model(config.model_dir / config.model, RuntimeOptions())
    rng = np.random.default_rng(0)
    z = rng.standard_normal((1, model.latent_dim), dtype=np.float32)
    spec = model.manifest.image
    image = rng.random((1, spec.channels, spec.height, spec.width), dtype=np.float32)
    path = np.repeat(z, STEPS, axis=0)
    work: dict[str, Callable[[], object]] = {
        "encode": lambda: model.encode(image),
        "decode": lambda: model.decode(z),
        "sample": lambda: model.decode(model.prior_sample(1, rng, 1.0)),
        "edit": lambda: model.decode(z),
        "interpolate": lambda: model.decode(path),
        "reconstruct": lambda: model.decode(model.encode(image).z_mean),
        **score_work(model, image),
    }
    rates = {}
    for name, job in work.items():
        count, start = 0, time.perf_counter()
        end = start + min(config.duration, 2.0)
        while time.perf_counter() < end and count < config.max_requests * 10:
            job()
            count += 1
        rates[name] = count / (time.perf_counter() - start)
    return rates


# ----------------------------------------------------------------------------------- report


PEER_PINS = Path(__file__).with_name("peers") / "requirements.txt"
MLSERVER_VERSION = re.search(r"^mlserver==(\S+)", PEER_PINS.read_text(), re.M).group(1)  # type: ignore[union-attr]
MEMORY_MODEL = "faces-vae-200d"  # the largest shipped bundle
SERVICE = "service"
NAIVE = "naive FastAPI"
MLSERVER = "MLServer " + MLSERVER_VERSION


def targets(
    results: list[LoadResult], raw: dict[str, float], memory: MemoryUse, startup: float,
    config: Config,
) -> list[dict[str, Any]]:  # fmt: skip
    def rate(name: str, server: str, clients: int) -> float:
        found = [
            r.throughput
            for r in results
            if (r.name, r.server, r.clients) == (name, server, clients)
        ]
        return found[0] if found else float("nan")

    c, many = config.clients, config.many_clients
    decode = next(r for r in results if (r.name, r.server, r.clients) == ("decode", SERVICE, c))
    rows = [
        (
            f"decode at {c} clients >= 1.5x the naive app",
            decode.throughput / rate("decode", NAIVE, c),
            1.5,
            "x",
        ),
        (
            f"decode at {c} clients >= 3x MLServer",
            decode.throughput / rate("decode", MLSERVER, c),
            3.0,
            "x",
        ),
        (f"decode p99 at {c} clients <= 25 ms", decode.p99_ms, 25.0, "ms"),
        (
            f"score of one image (default settings) at {c} clients <= 3x a reconstruct's cost",
            rate("reconstruct", SERVICE, c) / rate("score", SERVICE, c),
            3.0,
            "x cost",
        ),
        ("encode >= 0.3x raw ONNX Runtime", rate("encode", SERVICE, c) / raw["encode"], 0.3, "x"),
        (
            "memory: peak growth under 4 maximum requests < 200 MB",
            memory.peak - memory.start,
            PEAK_GROWTH_MB,
            "MB",
        ),
        (
            "memory: RSS after them within 50 MB of before",
            memory.settled - memory.start,
            RETURNED_WITHIN_MB,
            "MB",
        ),
        (
            f"decode at {c} clients >= 70% of the floor",
            decode.throughput / rate("floor", SERVICE, c),
            0.70,
            "x",
        ),
        (
            f"batching on/off, decode at {many} clients >= 1.5x",
            rate("decode", "service, batching on", many) / rate("decode", SERVICE, many),
            1.5,
            "x",
        ),
        ("start-up to ready <= 2 s", startup, 2.0, "s"),
    ]
    return [
        {"target": t, "measured": round(v, 3), "unit": u,
         "pass": None if math.isnan(v) else (v >= limit if u == "x" else v <= limit)}
        for t, v, limit, u in rows
    ]  # fmt: skip


def markdown(
    results: list[LoadResult], raw: dict[str, float], memory: MemoryUse,
    checks: list[dict[str, Any]], config: Config, load: tuple[float, float],
) -> str:  # fmt: skip
    floor = next(r.throughput for r in results if r.name == "floor")
    naive = next((r.throughput for r in results if r.server == NAIVE), float("nan"))
    lines = [
        f"model `{config.model}`, {config.duration:g} s per row, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} before and {load[1]:.2f} after the run",
        "",
        "| server | endpoint | clients | req/s | p50 ms | p99 ms | errors | RSS MB "
        "| ÷ floor | ÷ naive | ÷ raw ORT |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        vs_raw = f"{r.throughput / raw[r.name]:.3f}" if r.name in raw else "–"
        vs_naive = f"{r.throughput / naive:.2f}" if r.name == "decode" else "–"
        lines.append(
            f"| {r.server} | {r.name} | {r.clients} | {r.throughput:.0f} | {r.p50_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.errors} | {r.rss_mb:.0f} "
            f"| {r.throughput / floor:.2f} | {vs_naive} | {vs_raw} |"
        )
    lines += ["", "| raw ONNX Runtime (1 thread, in process) | req/s |", "|---|---|"]
    lines += [f"| {name} | {rate:.0f} |" for name, rate in raw.items() if "/" not in name]
    lines += ["", *score_parts(raw)]
    lines += [
        "",
        f"Memory, {MEMORY_MODEL}: RSS {memory.start:.0f} MB before, {memory.peak:.0f} MB at the "
        f"peak of 4 maximum requests at once, {memory.settled:.0f} MB after.",
        "",
        "| target | measured | pass |",
        "|---|---|---|",
    ]
    verdict = {True: "yes", False: "NO", None: "not run"}
    lines += [
        f"| {c['target']} | {c['measured']} {c['unit']} | {verdict[c['pass']]} |" for c in checks
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ servers


@dataclass(frozen=True)
class Contender:
    """A server in the run and the rows it is loaded with: (endpoint, clients)."""

    label: str
    rows: tuple[tuple[str, int], ...]
    env: dict[str, str]
    log_level: str = "info"
    command: tuple[str, ...] | None = None  # a baseline; None: `python -m service`
    ready: str = "/readyz"


def contenders(config: Config, work: Path) -> list[Contender]:
    c, many = config.clients, config.many_clients
    decoder = str(config.model_dir / config.model / "decoder.onnx")
    python = sys.executable
    naive = (python, "-m", "uvicorn", "bench.naive:app", "--host", "127.0.0.1", "--port", "{port}")
    servers = [
        Contender(
            SERVICE,
            (("floor", c), *((e, c) for e in ENDPOINTS if e != "decode"), ("decode", many)),
            {},
        ),
        Contender(
            NAIVE, (("decode", c),), {"BENCH_DECODER": decoder}, command=naive, ready="/docs"
        ),
    ]
    if config.peers is not None:
        servers.append(mlserver(config, work, decoder))
    batching = {"VAE_SERVE_BATCHING": "true",
                "VAE_SERVE_INFERENCE_CONCURRENCY": str(config.batching_concurrency)}  # fmt: skip
    return [
        *servers,
        Contender("service, access logs off", (("decode", c),), {}, log_level="warning"),
        Contender("service, 2 workers", (("decode", c), ("floor", c)), {"VAE_SERVE_WORKERS": "2"}),
        Contender("service, batching on", (("decode", many),), batching),
    ]


def mlserver(config: Config, work: Path, decoder: str) -> Contender:
    """MLServer with its defaults, serving the decoder through bench/peers/mlserver_decoder.py."""
    assert config.peers is not None
    model = work / "mlserver" / "decoder"
    model.mkdir(parents=True, exist_ok=True)
    settings = {"name": "decoder", "implementation": "mlserver_decoder.Decoder",
                "parameters": {"uri": decoder}}  # fmt: skip
    (model / "model-settings.json").write_text(json.dumps(settings))
    env = {
        "MLSERVER_HOST": "127.0.0.1", "MLSERVER_HTTP_PORT": "{port}",
        "MLSERVER_GRPC_PORT": str(free_port()), "MLSERVER_METRICS_PORT": str(free_port()),
        "PYTHONPATH": str(ROOT / "bench" / "peers"),
    }  # fmt: skip
    command = (str(config.peers / "bin" / "mlserver"), "start", str(model.parent))
    return Contender(MLSERVER, (("decode", config.clients),), env, command=command,
                     ready="/v2/models/decoder/ready")  # fmt: skip


def baseline_calls(label: str, dim: int, z: list[float]) -> dict[str, Call]:
    """The decode request of a baseline: one code, as the service's."""
    if label == MLSERVER:
        tensor = {"name": "z", "shape": [1, dim], "datatype": "FP32", "data": z}
        return {"decode": Call("POST", "/v2/models/decoder/infer", {"inputs": [tensor]})}
    return {"decode": Call("POST", "/decode", {"z": [z]})}


# ------------------------------------------------------------------------------------- main


def parse_config(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="2 s per row (CI)")
    parser.add_argument("--duration", type=float, help="seconds per row (default 10)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--many-clients", type=int, default=64)
    parser.add_argument(
        "--batching-concurrency", type=int, default=16,
        help="inference_concurrency of the batching server (requests that can meet in a batch)",
    )  # fmt: skip
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--model", default="fashion-vae-32d")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--peers", type=Path, help="a venv with MLServer (make bench-peers)")
    parser.add_argument(
        "--profile", action="store_true", help="an extra decode row sampled by py-spy"
    )
    args = parser.parse_args(argv)
    duration = args.duration or (2.0 if args.smoke else 10.0)
    counts = (args.clients, args.many_clients, args.batching_concurrency, args.max_requests)
    if not 0 < duration <= 600 or not all(1 <= n <= 1_000_000 for n in counts):
        parser.error("need 0 < duration <= 600 s and counts from 1 to 1,000,000")
    if args.peers is not None and not (args.peers / "bin" / "mlserver").is_file():
        parser.error(f"no MLServer in {args.peers} (make bench-peers installs it)")
    return Config(
        duration, args.clients, args.many_clients, args.batching_concurrency, args.max_requests,
        args.model, args.model_dir, args.peers, args.profile,
    )  # fmt: skip


HEAD_TO_HEAD_ROUNDS = 3


def bench(config: Config, stem: Path) -> tuple[list[LoadResult], float, MemoryUse]:
    """The head-to-head first (the service, the naive app and MLServer started together, their
    decode rows taken in turns, so that a change in the machine's load hits them alike), then the
    service's other rows, then the other configurations one by one, then memory."""
    results: list[LoadResult] = []
    work = stem.with_name(f"{stem.name}-work")
    everyone = contenders(config, work)
    rivals = [c for c in everyone if c.label in (SERVICE, NAIVE, MLSERVER)]
    started = [start(contender, config, stem) for contender in rivals]
    try:
        results += head_to_head([c.label for c in rivals], started, config)
        service, requests = started[0]
        startup = service.startup_seconds
        for server, _ in started[1:]:  # the baselines: done
            server.stop()
        for name, clients in rivals[0].rows:
            results.append(run_load(service, SERVICE, name, requests[name], clients, config))
        if config.profile:  # a row of its own: py-spy costs the server some CPU
            with profiled(service, stem):
                label = f"{SERVICE}, py-spy on"
                decode = requests["decode"]
                results.append(run_load(service, label, "decode", decode, config.clients, config))
    finally:
        for server, _ in started:
            server.stop()
    for contender in everyone:
        if contender in rivals:
            continue
        server, requests = start(contender, config, stem)
        try:
            for name, clients in contender.rows:
                results.append(
                    run_load(server, contender.label, name, requests[name], clients, config)
                )
        finally:
            server.stop()
    models = work / "memory"
    shutil.copytree(config.model_dir / MEMORY_MODEL, models / MEMORY_MODEL)
    with Server(models, {}, stem.with_name(f"{stem.name}-server-memory.log")) as server:
        memory = memory_under_largest_requests(server, MEMORY_MODEL)
    print(f"memory: {memory}")
    return results, startup, memory


def start(contender: Contender, config: Config, stem: Path) -> tuple[Server, dict[str, Call]]:
    """Start a contender's server and make its requests."""
    name = contender.label.replace(" ", "-").replace(",", "")
    log = stem.with_name(f"{stem.name}-server-{name}.log")
    command = list(contender.command) if contender.command else None
    env = {"VAE_SERVE_PRECISION": "fp32"} | contender.env  # the baselines' graph, unless told
    server = Server(config.model_dir, env, log, log_level=contender.log_level,
                    command=command, ready=contender.ready)  # fmt: skip
    print(f"{contender.label}: ready in {server.startup_seconds:.2f} s, "
          f"RSS {server.rss_mb():.0f} MB")  # fmt: skip
    if contender.command is None:
        return server, calls(server.url, config.model)
    return server, baseline_calls(contender.label, *first_code(config))


def head_to_head(
    labels: list[str], started: list[tuple[Server, dict[str, Call]]], config: Config
) -> list[LoadResult]:
    """Decode at `clients` on each server in turn, HEAD_TO_HEAD_ROUNDS times, a third of the
    duration each; one row per server from all its turns."""
    parts: dict[str, list[Measured]] = {label: [] for label in labels}
    for _ in range(HEAD_TO_HEAD_ROUNDS):
        for label, (server, requests) in zip(labels, started, strict=True):
            parts[label].append(
                measure(server, requests["decode"], config.clients, config, HEAD_TO_HEAD_ROUNDS)
            )
    return [
        summarise(server, label, "decode", config.clients, parts[label])
        for label, (server, _) in zip(labels, started, strict=True)
    ]


def overload_peer(config: Config, stem: Path) -> tuple[Server, Call]:
    """MLServer on the same decoder, for the overload rows."""
    decoder = str(config.model_dir / config.model / "decoder.onnx")
    server, requests = start(mlserver(config, stem.with_name(f"{stem.name}-work"), decoder),
                             config, stem)  # fmt: skip
    return server, requests["decode"]


def first_code(config: Config) -> tuple[int, list[float]]:
    """The latent size and the one code every decode row sends (the same as `calls`)."""
    dim = read_manifest(config.model_dir / config.model).latent_dim
    z: list[float] = np.random.default_rng(0).standard_normal(dim).astype(np.float32).tolist()
    return dim, z


@contextmanager
def profiled(server: Server, stem: Path) -> Iterator[None]:
    """py-spy (every thread, idle excluded) over the block, summarised into <stem>-profile.txt."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).is_file():
        yield
        return
    raw = stem.with_name(f"{stem.name}-profile.raw")
    command = [spy, "record", "-p", str(server.pid), "-r", "250", "-f", "raw", "--threads",
               "--nonblocking", "-o", str(raw), "-d", "600"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        process.wait(timeout=60)
    if raw.is_file():
        summary = summarise_profile(raw.read_text())
        stem.with_name(f"{stem.name}-profile.txt").write_text(summary)
        print(summary)


def summarise_profile(raw: str, top: int = 20) -> str:
    """Samples per thread group, and per group the functions with the most samples: inclusive
    (frames in nearly every sample, the thread's own scaffolding, left out) and in the leaf."""
    per_thread: Counter[str] = Counter()
    inclusive: dict[str, Counter[str]] = {}
    leaf: dict[str, Counter[str]] = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        group = frames[0].split(": ")[-1].rstrip("_0123456789") or frames[0]
        per_thread[group] += int(count)
        names = [frame.split(" (")[0] for frame in frames[1:]]
        inclusive.setdefault(group, Counter()).update(dict.fromkeys(set(names), int(count)))
        leaf.setdefault(group, Counter())[names[-1] if names else "?"] += int(count)
    total = sum(per_thread.values())
    lines = ["samples per thread (250 Hz, idle excluded):"]
    lines += [f"  {group}: {n} ({100 * n / total:.0f}%)" for group, n in per_thread.most_common()]
    for group, n in per_thread.most_common(2):
        shown = [(k, c) for k, c in inclusive[group].most_common() if c < 0.9 * n][:top]
        lines.append(f"{group}, inclusive share of its samples:")
        lines += [f"  {100 * c / n:5.1f}%  {name}" for name, c in shown]
        lines.append(f"{group}, where the samples were (leaf):")
        lines += [f"  {100 * c / n:5.1f}%  {name}" for name, c in leaf[group].most_common(top // 2)]
    return "\n".join(lines) + "\n"


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    stem = results_stem("load")
    before = load_average()
    results, startup, memory = bench(config, stem)
    peer = None if config.peers is None else partial(overload_peer, config, stem)
    overloaded = overload.run(config.model_dir, config.model, config.duration, stem,
                              config.max_requests, peer)  # fmt: skip
    raw = raw_throughput(config)
    side_by_side = precision.side_by_side(config, stem)
    after = load_average()
    checks = targets(results, raw, memory, startup, config)
    table = markdown(results, raw, memory, checks, config, (before, after))
    table += overload.markdown(overloaded)
    table += precision.markdown(side_by_side)
    report = {
        "config": {
            **asdict(config),
            "model_dir": str(config.model_dir),
            "peers": str(config.peers),
        },
        "cpus": os.cpu_count(),
        "load_average": {"before": before, "after": after},
        "startup_seconds": startup,
        "results": [asdict(r) for r in results],
        "raw_onnxruntime": raw,
        "memory_mb": asdict(memory),
        "targets": checks,
        "overload": overload.records(overloaded),
        "precision": precision.record(side_by_side),
    }
    write_results(stem, report, table)
    print()
    print(table)
    print(f"wrote {stem}.json and .md")
    failed = [r for r in results + [row.result for row in side_by_side.load] if r.errors]
    for r in failed:
        print(f"ERRORS: {r.server} {r.name}: {r.errors}, first: {r.first_error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
