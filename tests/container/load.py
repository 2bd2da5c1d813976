"""Closed-loop clients for the scaled stack's tests: threads that decode and encode through the
proxy while a replica is killed or restarted, counting what they sent and what failed. Bounded in
requests and time; the clients never retry (the proxy may)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # kind of failure -> count

    def add(self, failure: str | None) -> None:
        self.sent += 1
        if failure is not None:
            self.failed += 1
            self.failures[failure[:160]] += 1


class Load:
    """`clients` threads, each sending the `calls` in turn on its own keep-alive connection until
    the block ends (or `max_requests` in all, or `max_seconds`)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        calls: list[tuple[str, dict[str, Any]]],
        clients: int = 16,
        max_requests: int = 50_000,
        max_seconds: float = 300,
    ):
        self.base_url, self.headers, self.calls = base_url, headers, calls
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def wait_for_requests(self, count: int, timeout: float = 120) -> None:
        """Until the clients have sent `count` more requests (bounded)."""
        target = self.tally.sent + count
        end = time.monotonic() + timeout
        while self.tally.sent < target and time.monotonic() < end:
            time.sleep(0.05)

    def _client(self, index: int) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=60) as client:
            turn = index
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                path, body = self.calls[turn % len(self.calls)]
                turn += 1
                failure = _failure(client, path, body)
                with self._lock:
                    if self.tally.sent >= self.max_requests:
                        return
                    self.tally.add(failure)


def _failure(client: httpx.Client, path: str, body: dict[str, Any]) -> str | None:
    """None for a 2xx answer; what went wrong otherwise."""
    try:
        response = client.post(path, json=body)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.is_success:
        return None
    return f"{response.status_code}: {response.text[:120]}"
