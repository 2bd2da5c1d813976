"""`Server`: `python -m service` (or a peer server's command) as a child process on a free
loopback port, ready once constructed, stopped by its own PID."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import httpx

from liveserver.processes import free_port, stop_process, tree_rss_mb

ROOT = Path(__file__).resolve().parent.parent
READY_WITHIN_S = 120
# A port found free can be taken by another process (a parallel test worker) before the server
# binds it; the server then exits saying so, and starts again on another port, this many times.
BIND_ATTEMPTS = 5
PORT_TAKEN = "address already in use"


class ServerFailed(RuntimeError):
    """The server exited or was not ready in time; the message ends with its log."""


class _PortTaken(Exception):
    """The server could not bind its port: start it again on another."""


class Server:
    """`python -m service` on a free loopback port, ready once this returns; stopped (by its own
    PID, never anything else) by `stop()` or at the end of a `with` block. `env` adds
    `VAE_SERVE_*` variables to a clean environment; the log goes to a file, never a pipe.
    `log_level` is the service's (info: one access line per request). Another server (a
    baseline) runs from `command`, with `{port}` in it (and in `env`) replaced, ready when
    `ready` answers 200."""

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
        if command is None:
            command = service_command(model_dir, data_dir, log_level)
        self._ready, self._log_path = ready, log
        for _ in range(BIND_ATTEMPTS):
            self._start(command, env)
            try:
                self.startup_seconds = self._wait_ready(timeout=READY_WITHIN_S)
                return
            except _PortTaken:
                continue
        self._fail(f"no free port in {BIND_ATTEMPTS} attempts")

    def _start(self, command: list[str], env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [part.replace("{port}", str(self.port)) for part in command]
        filled = {key: value.replace("{port}", str(self.port)) for key, value in env.items()}
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VAE_SERVE_")}
        self._log = self._log_path.open("w")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=clean | filled, stdout=self._log, stderr=self._log
        )

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
                self._exited()
            try:
                if httpx.get(f"{self.url}{self._ready}", timeout=1).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        self.stop()
        self._fail(f"the server was not ready within {timeout} s")

    def _exited(self) -> NoReturn:
        self._log.close()
        if PORT_TAKEN in self._log_path.read_text().lower():
            raise _PortTaken
        self._fail(f"the server exited with {self.process.returncode}")

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


def service_command(model_dir: Path, data_dir: Path | None, log_level: str) -> list[str]:
    """`python -m service` on 127.0.0.1 and the port to be filled in."""
    command = [
        sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", "{port}",
        "--model-dir", str(model_dir), "--log-level", log_level,
    ]  # fmt: skip
    return command + (["--data-dir", str(data_dir)] if data_dir is not None else [])


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
