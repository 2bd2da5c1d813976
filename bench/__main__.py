"""`python -m bench [--smoke]`: the service under closed-loop HTTP load, against the HTTP floor and
raw in-process ONNX Runtime, in one run.

It starts `python -m service` itself on a free 127.0.0.1 port (twice: batching off, then on), runs
N concurrent clients per endpoint for a fixed duration (bounded in requests and time), and writes
bench/results/load-<stamp>.json and .md. The HTTP floor is `GET /healthz`: an async route with no
work, no inference pool and a constant body, behind the same middleware as every route. Exits 1 if
any request failed; the targets are reported as pass/fail, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import uvloop

from bench.harness import (
    ROOT,
    STEPS,
    Call,
    Connection,
    Server,
    calls,
    encode_request,
    results_stem,
    write_results,
)

ENDPOINTS = ("encode", "decode", "sample", "edit", "interpolate")


@dataclass(frozen=True)
class Config:
    duration: float  # seconds per endpoint
    clients: int
    many_clients: int  # the batching comparison
    batching_concurrency: int  # the batching server's inference_concurrency
    max_requests: int  # per endpoint run, whatever the duration
    model: str
    model_dir: Path


@dataclass
class LoadResult:
    name: str
    server: str  # "batching off" / "batching on"
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
    port: int, call: Call, clients: int, config: Config
) -> tuple[list[float], list[str]]:
    """Closed loop: `clients` connections, each sending its next request once answered."""
    latencies: list[float] = []
    errors: list[str] = []
    request = encode_request(call, port)
    end = time.perf_counter() + config.duration

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
    start = time.perf_counter()
    latencies, errors = uvloop.run(load(server.port, call, clients, config))
    seconds = time.perf_counter() - start
    ms = np.asarray(latencies or [float("nan")]) * 1000
    p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99))
    result = LoadResult(
        name, label, clients, len(latencies), len(errors), seconds, len(latencies) / seconds,
        p50, p95, p99, server.rss_mb(), server.mean_batch(), errors[0] if errors else None,
    )  # fmt: skip
    print(
        f"  {label:13} {name:12} c={clients:<3} {result.throughput:8.1f} req/s  p99 {p99:6.1f} ms"
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


def targets(results: list[LoadResult], startup: float, config: Config) -> list[dict[str, Any]]:
    def find(name: str, server: str, clients: int) -> LoadResult:
        return next(r for r in results if (r.name, r.server, r.clients) == (name, server, clients))

    c, many = config.clients, config.many_clients
    floor = find("floor", "batching off", c).throughput
    decode = find("decode", "batching off", c).throughput
    off = find("decode", "batching off", many).throughput
    on = find("decode", "batching on", many).throughput
    p99 = max(r.p99_ms for r in results if r.clients == c and r.name in ENDPOINTS)
    rss = max(r.rss_mb for r in results)
    rows = [
        (f"decode at {c} clients >= 70% of the floor", decode / floor, 0.70, "x floor"),
        (f"batching on/off, decode at {many} clients >= 1.5x", on / off, 1.5, "x"),
        (f"p99 at {c} clients <= 25 ms (worst endpoint)", p99, 25.0, "ms"),
        ("start-up to ready <= 2 s", startup, 2.0, "s"),
        ("server RSS <= 250 MB, all shipped models", rss, 250.0, "MB"),
    ]
    return [
        {"target": t, "measured": round(v, 3), "unit": u,
         "pass": v >= limit if u.startswith("x") else v <= limit}
        for t, v, limit, u in rows
    ]  # fmt: skip


def markdown(
    results: list[LoadResult], raw: dict[str, float], checks: list[dict[str, Any]], config: Config
) -> str:
    floor = next(r.throughput for r in results if r.name == "floor")
    lines = [
        f"model `{config.model}`, {config.duration:g} s per run, {os.cpu_count()} CPUs",
        "",
        "| server | endpoint | clients | req/s | p50 ms | p95 ms | p99 ms | errors | RSS MB "
        "| mean batch* | ÷ floor | ÷ raw ORT |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        vs_raw = f"{r.throughput / raw[r.name]:.3f}" if r.name in raw else "–"
        lines.append(
            f"| {r.server} | {r.name} | {r.clients} | {r.throughput:.0f} | {r.p50_ms:.1f} "
            f"| {r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | {r.rss_mb:.0f} | {r.mean_batch:.2f} "
            f"| {r.throughput / floor:.2f} | {vs_raw} |"
        )
    lines += ["", "*rows per ONNX Runtime run, cumulative over the server's life so far", ""]
    lines += ["| raw ONNX Runtime (1 thread) | req/s |", "|---|---|"]
    lines += [f"| {name} | {rate:.0f} |" for name, rate in raw.items()]
    lines += ["", "| target | measured | pass |", "|---|---|---|"]
    lines += [
        f"| {c['target']} | {c['measured']} {c['unit']} | {'yes' if c['pass'] else 'NO'} |"
        for c in checks
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- main


def parse_config(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="2 s per run (CI)")
    parser.add_argument("--duration", type=float, help="seconds per run (default 10)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--many-clients", type=int, default=64)
    parser.add_argument(
        "--batching-concurrency", type=int, default=16,
        help="inference_concurrency of the batching server (requests that can meet in a batch)",
    )  # fmt: skip
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--model", default="fashion-vae-32d")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args(argv)
    duration = args.duration or (2.0 if args.smoke else 10.0)
    counts = (args.clients, args.many_clients, args.batching_concurrency, args.max_requests)
    if not 0 < duration <= 600 or not all(1 <= n <= 1_000_000 for n in counts):
        parser.error("need 0 < duration <= 600 s and counts from 1 to 1,000,000")
    return Config(
        duration, args.clients, args.many_clients, args.batching_concurrency, args.max_requests,
        args.model, args.model_dir,
    )  # fmt: skip


def bench(config: Config, stem: Path) -> tuple[list[LoadResult], float]:
    results: list[LoadResult] = []
    startup = float("nan")
    servers: tuple[tuple[str, dict[str, str]], ...] = (
        ("batching off", {}),
        ("batching on", {"VAE_SERVE_BATCHING": "true",
                         "VAE_SERVE_INFERENCE_CONCURRENCY": str(config.batching_concurrency)}),
    )  # fmt: skip
    for label, env in servers:
        log = stem.with_name(f"{stem.name}-server-{label.replace(' ', '-')}.log")
        server = Server(config.model_dir, env, log)
        try:
            print(f"{label}: ready in {server.startup_seconds:.2f} s, RSS {server.rss_mb():.0f} MB")
            requests = calls(server.url, config.model)
            if label == "batching off":
                startup = server.startup_seconds
                for name in ("floor", *ENDPOINTS):
                    results.append(
                        run_load(server, label, name, requests[name], config.clients, config)
                    )
            results.append(
                run_load(server, label, "decode", requests["decode"], config.many_clients, config)
            )
        finally:
            server.stop()
    return results, startup


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    stem = results_stem("load")
    results, startup = bench(config, stem)
    raw = raw_throughput(config)
    checks = targets(results, startup, config)
    table = markdown(results, raw, checks, config)
    report = {
        "config": {**asdict(config), "model_dir": str(config.model_dir)},
        "cpus": os.cpu_count(),
        "startup_seconds": startup,
        "results": [asdict(r) for r in results],
        "raw_onnxruntime": raw,
        "targets": checks,
    }
    write_results(stem, report, table)
    print()
    print(table)
    print(f"wrote {stem}.json and .md")
    failed = [r for r in results if r.errors]
    for r in failed:
        print(f"ERRORS: {r.server} {r.name}: {r.errors}, first: {r.first_error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
