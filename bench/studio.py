"""`python -m bench.studio [--smoke]`: the Latent Studio's pointer-to-image latency, in a real
browser, for each 2-d model.

It starts `python -m service` on a free 127.0.0.1 port and Debian's Chromium (headless, through
Playwright), opens the Studio on each model, and drags the pointer across the map at 60 Hz, a
hand's pace: a Lissajous path over the middle of the map, --moves pointer events. The page
records, for every image it shows, the time from the pointer event that asked for its code to the
decoded image being ready to paint (`studio.decoder.latencies`, see service/studio/live.js), so
coalescing (at most one request in flight, the newest code waiting) is part of what is measured.
Bounded: --moves per model and --budget seconds in all. Writes bench/results/studio-<stamp>.json
and .md; the target (p50 <= 50 ms) is reported, never asserted.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from playwright.sync_api import Browser, Page, sync_playwright

from bench.harness import ROOT, results_stem, write_results
from liveserver.server import Server

MODELS = ("fashion-vae-2d", "fashion-ae-2d")
TARGET_P50_MS = 50.0
HZ = 60.0  # pointer events per second: a mouse drag
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


@dataclass
class StudioResult:
    model: str
    moves: int
    images: int  # images shown: fewer than moves when decoding coalesced them
    requests: int  # /decode requests the page sent
    seconds: float
    p50_ms: float
    p95_ms: float
    max_ms: float


def drag(page: Page, moves: int, deadline: float, hz: float) -> int:
    """Move the pointer over the map at `hz` along a Lissajous path; returns the moves made."""
    box = page.get_by_test_id("map").bounding_box()
    assert box is not None
    start = time.perf_counter()
    made = 0
    for i in range(moves):
        if time.perf_counter() > deadline:
            break
        t = 2 * math.pi * i / moves
        x = box["x"] + box["width"] * (0.5 + 0.35 * math.sin(3 * t))
        y = box["y"] + box["height"] * (0.5 + 0.35 * math.sin(2 * t))
        page.mouse.move(round(x), round(y))
        made += 1
        pause = start + made / hz - time.perf_counter()
        if pause > 0:
            time.sleep(pause)  # the pace of a hand, not of the benchmark's loop
    return made


def measure(
    browser: Browser, url: str, model: str, moves: int, deadline: float, hz: float
) -> StudioResult:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{url}/?model={model}")
        page.get_by_test_id("decoded-image").wait_for(state="attached")
        page.wait_for_function(
            "([m]) => document.querySelector('[data-testid=decoded-image]').dataset.model === m"
            " && document.body.dataset.decoding === 'idle'",
            arg=[model],
        )
        page.evaluate("() => { studio.decoder.latencies.length = 0; studio.decoder.requests = 0; }")
        start = time.perf_counter()
        made = drag(page, moves, deadline, hz)
        page.wait_for_function("() => document.body.dataset.decoding === 'idle'")
        seconds = time.perf_counter() - start
        latencies = np.asarray(page.evaluate("() => studio.decoder.latencies"), dtype=float)
        requests = int(page.evaluate("() => studio.decoder.requests"))
    finally:
        page.close()
    p50, p95, top = np.percentile(latencies, [50, 95, 100]) if len(latencies) else [math.nan] * 3
    return StudioResult(model, made, len(latencies), requests, seconds, p50, p95, top)


def markdown(results: list[StudioResult], load: tuple[float, float, float], hz: float) -> str:
    lines = [
        f"Chromium, pointer moved at {hz:g} Hz; {os.cpu_count()} CPUs; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start",
        "",
        "| model | moves | images | /decode requests | p50 ms | p95 ms | max ms | p50 <= "
        f"{TARGET_P50_MS:g} ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.model} | {r.moves} | {r.images} | {r.requests} | {r.p50_ms:.1f} | {r.p95_ms:.1f} "
        f"| {r.max_ms:.1f} | {'yes' if r.p50_ms <= TARGET_P50_MS else 'NO'} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.studio", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="60 moves per model (CI)")
    parser.add_argument("--moves", type=int, help="pointer moves per model (default 600)")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds in all, at most")
    parser.add_argument("--hz", type=float, default=HZ, help="pointer events per second")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    moves = args.moves or (60 if args.smoke else 600)
    if not 1 <= moves <= 10_000 or not 0 < args.budget <= 3600 or not 1 <= args.hz <= 1000:
        parser.error("need 1 <= moves <= 10000, 0 < budget <= 3600 s and 1 <= hz <= 1000")
    load = os.getloadavg()
    stem = results_stem("studio")
    deadline = time.perf_counter() + args.budget
    results = []
    log = stem.with_name(f"{stem.name}-server.log")
    with Server(args.model_dir, {}, log) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            for model in args.models:
                results.append(measure(browser, server.url, model, moves, deadline, args.hz))
                print(f"{model}: p50 {results[-1].p50_ms:.1f} ms")
        finally:
            browser.close()
    table = markdown(results, load, args.hz)
    report = {"hz": args.hz, "load_average": load, "results": [asdict(r) for r in results]}
    write_results(stem, report, table)
    print()
    print(table)
    print(f"wrote {stem}.json and .md")
    return 0 if all(r.images for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
