"""`python -m bench.overload [--smoke]`, and the overload rows of `python -m bench`: the service
decoding on `fashion-vae-32d` with 16, 128 and 512 closed-loop clients (each resends as soon as it
is answered, as many real clients do), served rate, refusals, other errors, p99 and memory growth;
then 512 clients against a latency budget far below their wait, to show that refusing leaves the
served rate where it was; and MLServer at the same client counts when `--peers` names its venv.

Targets (issue 24): at 128 and 512 clients, 0 errors with the default budget, a served rate >= 90%
of the 16-client rate in the same run, and memory growth under 100 MB. Reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import uvloop

from bench.harness import ROOT, Call, Connection, calls, encode_request, results_stem
from bench.harness import write_results as write
from liveserver.server import Server

CLIENTS = (16, 128, 512)
PAST_BUDGET_S = "0.02"  # the refusing row's VAE_SERVE_LATENCY_BUDGET_S
GROWTH_LIMIT_MB = 100
SERVED_RATIO = 0.9
# Starts a peer server (MLServer) and gives its decode request.
PeerStarter = Callable[[], tuple[Server, Call]]


@dataclass
class OverloadRow:
    server: str
    clients: int
    served: int
    refused: int  # 503 overloaded
    errors: int  # anything else that is not a 200, and broken connections
    seconds: float
    served_per_s: float
    p99_ms: float
    rss_growth_mb: float  # peak RSS during the row over RSS before the first row


async def closed_loop(
    port: int, call: Call, clients: int, seconds: float, cap: int
) -> tuple[list[float], int, int]:
    """`clients` keep-alive connections, each resending once answered: latencies of the 200s,
    and the counts of 503s and of everything else."""
    request = encode_request(call, port)
    latencies: list[float] = []
    tally = {"refused": 0, "errors": 0}
    end = time.perf_counter() + seconds

    async def client() -> None:
        connection = await Connection.open(port)
        try:
            while time.perf_counter() < end and len(latencies) + sum(tally.values()) < cap:
                start = time.perf_counter()
                try:
                    status, _ = await asyncio.wait_for(connection.send(request), timeout=60)
                except (TimeoutError, OSError, asyncio.IncompleteReadError):
                    tally["errors"] += 1
                    return
                if status == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    tally["refused" if status == 503 else "errors"] += 1
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, tally["refused"], tally["errors"]


def row(server: Server, label: str, call: Call, clients: int, seconds: float, base_mb: float,
        cap: int) -> OverloadRow:  # fmt: skip
    start = time.perf_counter()
    with server.peak_rss() as rss:
        latencies, refused, errors = uvloop.run(
            closed_loop(server.port, call, clients, seconds, cap)
        )
    took = time.perf_counter() - start
    p99 = float(np.percentile(np.asarray(latencies or [np.nan]) * 1000, 99))
    result = OverloadRow(label, clients, len(latencies), refused, errors, took,
                         len(latencies) / took, p99, rss.peak - base_mb)  # fmt: skip
    print(f"  overload {label:28} c={clients:<4} {result.served_per_s:7.1f} served/s  "
          f"refused {refused}  errors {errors}  p99 {p99:7.1f} ms  "
          f"RSS +{result.rss_growth_mb:.0f} MB", flush=True)  # fmt: skip
    return result


def run(model_dir: Path, model: str, seconds: float, stem: Path, cap: int = 200_000,
        peer: PeerStarter | None = None) -> list[OverloadRow]:  # fmt: skip
    """Every overload row, one server at a time."""
    rows: list[OverloadRow] = []
    configurations = [("service", {}), (f"service, budget {PAST_BUDGET_S} s",
                                        {"VAE_SERVE_LATENCY_BUDGET_S": PAST_BUDGET_S})]  # fmt: skip
    for label, env in configurations:
        log = stem.with_name(f"{stem.name}-overload-{len(rows)}.log")
        with Server(model_dir, env, log) as server:
            decode = calls(server.url, model)["decode"]
            base = server.rss_mb()
            counts = CLIENTS if not env else CLIENTS[-1:]
            rows += [row(server, label, decode, c, seconds, base, cap) for c in counts]
    if peer is not None:
        server, decode = peer()
        with server:
            base = server.rss_mb()
            rows += [row(server, "MLServer", decode, c, seconds, base, cap) for c in CLIENTS]
    return rows


def targets(rows: list[OverloadRow]) -> list[tuple[str, float, bool]]:
    service = {r.clients: r for r in rows if r.server == "service"}
    refusing = [r for r in rows if r.server.startswith("service, budget")]
    checks = []
    for clients in CLIENTS[1:]:
        r = service[clients]
        ratio = r.served_per_s / service[CLIENTS[0]].served_per_s
        checks += [
            (f"{clients} clients: errors and refusals, default budget", r.errors + r.refused,
             r.errors + r.refused == 0),
            (f"{clients} clients: served rate / 16-client rate >= {SERVED_RATIO}", ratio,
             ratio >= SERVED_RATIO),
            (f"{clients} clients: RSS growth < {GROWTH_LIMIT_MB} MB", r.rss_growth_mb,
             r.rss_growth_mb < GROWTH_LIMIT_MB),
        ]  # fmt: skip
    for r in refusing:
        ratio = r.served_per_s / service[CLIENTS[0]].served_per_s
        checks.append((f"past the budget ({r.refused} refused): served rate / 16-client rate",
                       ratio, ratio >= SERVED_RATIO))  # fmt: skip
    return checks


def markdown(rows: list[OverloadRow]) -> str:
    lines = [
        "", "Overload: decode, closed-loop clients that resend at once", "",
        "| server | clients | served/s | refused (503) | other errors | p99 ms | RSS growth MB |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    lines += [
        f"| {r.server} | {r.clients} | {r.served_per_s:.0f} | {r.refused} | {r.errors} "
        f"| {r.p99_ms:.1f} | {r.rss_growth_mb:.0f} |"
        for r in rows
    ]
    lines += ["", "| overload target | measured | pass |", "|---|---|---|"]
    lines += [f"| {t} | {v:.3g} | {'yes' if ok else 'NO'} |" for t, v, ok in targets(rows)]
    return "\n".join(lines) + "\n"


def records(rows: list[OverloadRow]) -> dict[str, object]:
    """The rows and the targets, for the benchmark's JSON."""
    checks = [{"target": t, "measured": v, "pass": ok} for t, v, ok in targets(rows)]
    return {"rows": [asdict(r) for r in rows], "targets": checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="2 s per row")
    parser.add_argument("--duration", type=float, help="seconds per row (default 10)")
    parser.add_argument("--model", default="fashion-vae-32d")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args(argv)
    seconds = args.duration or (2.0 if args.smoke else 10.0)
    if not 0 < seconds <= 600:
        parser.error("need 0 < duration <= 600 s")
    stem = results_stem("overload")
    rows = run(args.model_dir, args.model, seconds, stem)
    table = markdown(rows)
    write(stem, records(rows), table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
