"""What every benchmark here shares: the service started on loopback, a lean keep-alive HTTP/1.1
client, and one request per endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STEPS = 8  # interpolation frames per request
RESULTS = ROOT / "bench" / "results"


def results_stem(kind: str) -> Path:
    """bench/results/<kind>-<UTC time>: where one run writes its .json and .md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"


def write_results(stem: Path, record: object, table: str) -> None:
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1, default=str))
    stem.with_suffix(".md").write_text(table)


# ---------------------------------------------------------------------------- the server


class ServerFailed(RuntimeError):
    """The service exited or was not ready in time; the message ends with its log."""


class Server:
    """`python -m service` on a free loopback port, ready once this returns; stopped (by its own
    PID, never anything else) by `stop()` or at the end of a `with` block. `env` adds
    `VAE_SERVE_*` variables to a clean environment; the log goes to a file, never a pipe.
    `log_level` is the service's (info: one access line per request). Another server (a
    baseline) runs from `command`, with `{port}` in it replaced, ready when `ready` answers 200."""

    def __init__(
        self,
        model_dir: Path,
        env: Mapping[str, str],
        log: Path,
        data_dir: Path | None = None,
        log_level: str = "warning",
        command: list[str] | None = None,
        ready: str = "/readyz",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready = ready
        if command is None:
            command = [
                sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", "{port}",
                "--model-dir", str(model_dir), "--log-level", log_level,
            ]  # fmt: skip
            command += ["--data-dir", str(data_dir)] if data_dir is not None else []
        command = [part.replace("{port}", str(self.port)) for part in command]
        env = {key: value.replace("{port}", str(self.port)) for key, value in env.items()}
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VAE_SERVE_")}
        self._log_path, self._log = log, log.open("w")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=clean | dict(env), stdout=self._log, stderr=self._log
        )
        self.startup_seconds = self._wait_ready(timeout=120)

    @property
    def pid(self) -> int:
        return self.process.pid

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_ready(self, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                self._fail(f"the server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}{self._ready}", timeout=1).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        self.stop()
        self._fail(f"the server was not ready within {timeout} s")

    def _fail(self, reason: str) -> NoReturn:
        self._log.close()
        raise ServerFailed(f"{reason}; its log ends:\n{self._log_path.read_text()[-3000:]}")

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes, summed (MB)."""
        return tree_rss_mb(self.process.pid)

    def peak_rss(self) -> PeakRss:
        """A context that samples this server's RSS every few milliseconds, keeping the peak."""
        return PeakRss(self)

    def mean_batch(self) -> float:
        """Mean rows per ONNX Runtime run over all graphs, from /metrics."""
        totals = {"_sum": 0.0, "_count": 0.0}
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            for suffix in totals:
                if line.startswith(f"vae_serve_batch_size{suffix}{{"):
                    totals[suffix] += float(line.rsplit(" ", 1)[1])
        return totals["_sum"] / totals["_count"] if totals["_count"] else float("nan")

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


class PeakRss:
    """Samples a server's RSS (summed over its processes) in a thread until the block ends."""

    def __init__(self, server: Server):
        self.server = server
        self.peak = server.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.server.rss_mb())


def tree_rss_mb(root: int) -> float:
    """VmRSS of `root` and every process descended from it (uvicorn's workers), summed, in MB;
    nan once `root` has gone."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := _parent_and_rss_kb(name)) is not None:
            table[int(name)] = fields
    if root not in table:
        return float("nan")
    parents = {pid: parent for pid, (parent, _) in table.items()}
    return sum(table[pid][1] for pid in process_tree(root, parents)) / 1024


def process_tree(root: int, parents: Mapping[int, int]) -> list[int]:
    """`root` and all its descendants, given each process's parent."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, parent in parents.items():
        children[parent].append(pid)
    tree: list[int] = []
    stack = [root]
    while stack and len(tree) <= len(parents):  # a parent table is a forest; bounded anyway
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children[pid])
    return tree


def _parent_and_rss_kb(pid: str) -> tuple[int, int] | None:
    """(parent pid, VmRSS in kB) from /proc/<pid>/status; None if the process has gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    fields = {key: value.split() for key, _, value in (line.partition(":") for line in lines)}
    rss = fields.get("VmRSS", ["0"])  # kernel threads have no VmRSS
    return int(fields["PPid"][0]), int(rss[0])


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM this process (only the one we started), and SIGKILL it if it outlives `grace` s."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ------------------------------------------------------------------------------ the requests


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


def calls(url: str, model: str) -> dict[str, Call]:
    """One request per endpoint, the same work as `bench.__main__.raw_throughput` times without
    HTTP: one image or code each."""
    info = httpx.get(f"{url}/v1/models/{model}", timeout=10).json()
    dim = info["latent_dim"]
    rng = np.random.default_rng(0)
    z = rng.standard_normal(dim).astype(np.float32).tolist()
    z2 = rng.standard_normal(dim).astype(np.float32).tolist()
    image = httpx.post(f"{url}/v1/models/{model}/decode", json={"z": [z]}, timeout=10)
    png_b64 = image.json()["images"][0]
    attribute = info["attributes"][0]
    base = f"/v1/models/{model}"
    return {
        "floor": Call("GET", "/healthz"),
        "encode": Call("POST", f"{base}/encode", {"images": [png_b64]}),
        "decode": Call("POST", f"{base}/decode", {"z": [z]}),
        "sample": Call("POST", f"{base}/sample", {"n": 1, "seed": 1}),
        "edit": Call("POST", f"{base}/edit", {"z": [z], "attributes": {attribute: 1.0}}),
        "interpolate": Call("POST", f"{base}/interpolate", {"z": [z, z2], "steps": STEPS}),
        "reconstruct": Call("POST", f"{base}/reconstruct", {"images": [png_b64]}),
        "score": Call("POST", f"{base}/score", {"images": [png_b64]}),
    }


class Connection:
    """A minimal keep-alive HTTP/1.1 client over asyncio streams: far cheaper per request than a
    general client, so the load generator (on the same cores) takes less from the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        return status, await self._reader.readexactly(length)

    def close(self) -> None:
        self._writer.close()


def encode_request(call: Call, port: int) -> bytes:
    body = b"" if call.body is None else json.dumps(call.body).encode()
    head = f"{call.method} {call.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if call.body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


# --------------------------------------------------------------------------- memory under load


@dataclass(frozen=True)
class MemoryUse:
    """The server's RSS (MB) before, at the peak during, and after the largest requests."""

    start: float
    peak: float
    settled: float


def memory_under_largest_requests(
    server: Server, model: str, concurrent: int = 4, items: int = 256
) -> MemoryUse:
    """`concurrent` maximum-size decodes (`items` codes), then as many reconstructs (`items`
    images), all at once, while the server's RSS is sampled; then RSS after it settles (waiting
    at most 10 s for freed memory to return). Every request must succeed."""
    base = f"{server.url}/v1/models/{model}"
    dim = httpx.get(base, timeout=10).json()["latent_dim"]
    z = np.random.default_rng(0).standard_normal((items, dim)).round(3).tolist()
    small = httpx.post(f"{base}/decode", json={"z": z[:2]}, timeout=60)
    small.raise_for_status()
    images = small.json()["images"] * (items // 2)

    async def at_once(path: str, body: dict[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=300) as client:
            calls = [client.post(f"{base}/{path}", json=body) for _ in range(concurrent)]
            for response in await asyncio.gather(*calls):
                response.raise_for_status()
                assert len(response.json()["images"]) == items

    start = server.rss_mb()
    with server.peak_rss() as rss:
        asyncio.run(at_once("decode", {"z": z}))
        asyncio.run(at_once("reconstruct", {"images": images}))
    settled = server.rss_mb()
    for _ in range(100):  # bounded: freed memory returns within moments, if at all
        if settled - start <= RETURNED_WITHIN_MB:
            break
        time.sleep(0.1)
        settled = server.rss_mb()
    return MemoryUse(start, rss.peak, settled)


# The memory targets: growth at the peak of four maximum requests, and what stays after them.
PEAK_GROWTH_MB = 200
RETURNED_WITHIN_MB = 50
