"""`python -m bench.soak`: a bounded soak on loopback. It starts the service, drives a seeded mix of
every endpoint on two models, the model list, and some bad requests that must get their 4xx, from
N closed-loop clients for a fixed time, samples the server's RSS (summed over its workers), and
fails on any unexpected status, transport error or server exit, or on RSS growth of 10% or more
from the end of warm-up to the peak after it. Writes bench/results/soak-<stamp>.json, .md and .svg
(the plot only if matplotlib is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import uvloop

from bench.harness import (
    ROOT,
    Call,
    Connection,
    calls,
    encode_request,
    results_stem,
    write_results,
)
from liveserver.server import Server

MODELS = ("fashion-vae-32d", "faces-vae-200d")
MAX_GROWTH = 0.10


@dataclass(frozen=True)
class Request:
    name: str
    call: Call
    expected: int  # the status the service must answer
    weight: float


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)  # "name status" -> count
    errors: list[str] = field(default_factory=list)  # one kind per error: "name: what happened"
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def mix(url: str) -> list[Request]:
    """Every endpoint of both models, weighted towards the cheap ones, the model list, liveness,
    and four kinds of bad request: a wrong latent dimension (422), an unknown model (404), a
    non-image (415) and a body that is not JSON (422)."""
    requests = [
        Request("list models", Call("GET", "/v1/models"), 200, 0.5),
        Request("healthz", Call("GET", "/healthz"), 200, 0.5),
    ]
    for model in MODELS:
        for name, call in calls(url, model).items():
            if name != "floor":  # /healthz, once above
                weight = 0.5 if name == "interpolate" else 1.0
                requests.append(Request(f"{model} {name}", call, 200, weight))
    base = f"/v1/models/{MODELS[0]}"
    bad = [
        ("wrong latent dimension", Call("POST", f"{base}/decode", {"z": [[0.0, 1.0]]}), 422),
        ("unknown model", Call("POST", "/v1/models/nope/decode", {"z": [[0.0]]}), 404),
        ("not an image", Call("POST", f"{base}/encode", {"images": ["aGVsbG8="]}), 415),
        ("not JSON", Call("POST", f"{base}/sample", None), 422),
    ]
    return requests + [Request(name, call, status, 0.1) for name, call, status in bad]


async def client(
    port: int, requests: list[Request], seed: int, end: float, budget: int, tally: Tally
) -> None:
    """One closed-loop client: a seeded choice, send, check the status, until time or budget."""
    rng = random.Random(seed)
    encoded = [encode_request(r.call, port) for r in requests]
    weights = [r.weight for r in requests]
    connection = await Connection.open(port)
    try:
        while time.perf_counter() < end and tally.requests < budget:
            i = rng.choices(range(len(requests)), weights)[0]
            try:
                status, _ = await asyncio.wait_for(connection.send(encoded[i]), timeout=30)
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                tally.errors.append(f"{requests[i].name}: {type(exc).__name__}")
                connection.close()
                try:
                    connection = await Connection.open(port)
                except OSError as reconnect:
                    tally.errors.append(f"reconnect: {type(reconnect).__name__}")
                    return  # the server is gone; the others will say so too
                continue
            tally.statuses[f"{requests[i].name} {status}"] += 1
            if status != requests[i].expected:
                tally.errors.append(f"{requests[i].name}: {status}, not {requests[i].expected}")
    finally:
        connection.close()


async def sample_rss(
    server: Server, start: float, end: float, interval: float, tally: Tally
) -> None:
    while (now := time.perf_counter()) < end:
        tally.rss.append((round(now - start, 2), round(server.rss_mb(), 1)))
        await asyncio.sleep(min(interval, max(end - now, 0.01)))
    tally.rss.append((round(time.perf_counter() - start, 2), round(server.rss_mb(), 1)))


async def soak(server: Server, requests: list[Request], args: argparse.Namespace) -> Tally:
    tally = Tally()
    start = time.perf_counter()
    end = start + args.duration
    budget = args.max_requests
    clients = [
        client(server.port, requests, seed, end, budget, tally) for seed in range(args.clients)
    ]
    await asyncio.gather(sample_rss(server, start, end, args.interval, tally), *clients)
    if (code := server.process.poll()) is not None:
        tally.errors.append(f"server: exited with {code}")
    return tally


def growth(rss: list[tuple[float, float]], warmup: float) -> tuple[float, float, float]:
    """RSS at the end of warm-up, the highest after it, and the growth between them (a ratio)."""
    after = [mb for t, mb in rss if t >= warmup]
    if not after:
        raise ValueError(f"no RSS sample after the {warmup} s warm-up")
    baseline = after[0]
    peak = max(after)
    return baseline, peak, peak / baseline - 1


@dataclass
class SoakResult:
    clients: int
    seconds: float
    requests: int
    requests_per_s: float
    errors: int
    errors_by_kind: dict[str, int]
    statuses: dict[str, int]
    rss_mb: list[tuple[float, float]]
    rss_after_warmup_mb: float
    rss_peak_after_warmup_mb: float
    rss_final_mb: float
    rss_growth: float  # peak after warm-up over RSS at its end, minus 1
    passed: bool


def report(tally: Tally, args: argparse.Namespace, seconds: float) -> SoakResult:
    baseline, peak, ratio = growth(tally.rss, args.warmup)
    return SoakResult(
        clients=args.clients,
        seconds=round(seconds, 2),
        requests=tally.requests,
        requests_per_s=round(tally.requests / seconds, 1),
        errors=len(tally.errors),
        errors_by_kind=dict(Counter(tally.errors).most_common()),
        statuses=dict(sorted(tally.statuses.items())),
        rss_mb=tally.rss,
        rss_after_warmup_mb=baseline,
        rss_peak_after_warmup_mb=peak,
        rss_final_mb=tally.rss[-1][1],
        rss_growth=round(ratio, 4),
        passed=not tally.errors and ratio < MAX_GROWTH,
    )


def markdown(result: SoakResult) -> str:
    series = ", ".join(f"{t:.0f} s: {mb:.0f}" for t, mb in result.rss_mb)
    r = result
    errors = "".join(f"- {kind}: {n}\n" for kind, n in r.errors_by_kind.items())
    return (
        "| clients | seconds | requests | req/s | errors | RSS after warm-up | RSS peak "
        "| RSS final | growth |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"| {r.clients} | {r.seconds} | {r.requests} | {r.requests_per_s} | {r.errors} "
        f"| {r.rss_after_warmup_mb} MB | {r.rss_peak_after_warmup_mb} MB | {r.rss_final_mb} MB "
        f"| {100 * r.rss_growth:.1f}% |\n\nRSS over time (MB): {series}\n"
        + (f"\nErrors by kind:\n{errors}" if errors else "")
    )


def plot(result: SoakResult, path: Path, warmup: float) -> bool:
    """RSS over time as an SVG; False (and no file) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    seconds = [t for t, _ in result.rss_mb]
    mb = [m for _, m in result.rss_mb]
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.plot(seconds, mb, marker=".")
    ax.axvline(warmup, color="gray", linestyle="--", label="end of warm-up")
    ax.set(xlabel="seconds", ylabel="server RSS (MB)", ylim=(0, max(mb) * 1.2))
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before RSS counts")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--max-requests", type=int, default=2_000_000, help="a hard bound")
    parser.add_argument("--workers", type=int, default=1, help="the service's worker processes")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.duration <= 3600:
        parser.error("need 0 < warm-up < duration <= 3600 s")
    if not 0 < args.interval <= args.duration - args.warmup:
        parser.error("need an RSS sample interval no longer than the time after warm-up")
    counts = (args.clients, args.max_requests, args.workers)
    if not (1 <= args.clients <= 1024 and args.max_requests >= 1 and 1 <= args.workers <= 64):
        parser.error(f"need 1-1024 clients, at least 1 request and 1-64 workers, not {counts}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stem = results_stem("soak")
    env = {"VAE_SERVE_WORKERS": str(args.workers)}
    server = Server(args.model_dir, env, stem.with_suffix(".server.log"))
    try:
        requests = mix(server.url)
        start = time.perf_counter()
        tally = uvloop.run(soak(server, requests, args))
        result = report(tally, args, time.perf_counter() - start)
    finally:
        server.stop()
    table = markdown(result)
    write_results(stem, {"config": vars(args), **asdict(result)}, table)
    plotted = plot(result, stem.with_suffix(".svg"), args.warmup)
    print(table, end="")
    print(f"wrote {stem}.json, .md" + (" and .svg" if plotted else ""))
    print("PASSED" if result.passed else "FAILED: errors, or RSS growth >= 10% after warm-up")
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
