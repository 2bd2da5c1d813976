"""Serving a bundle: ONNX Runtime's session options, the metrics hook and the dynamic batcher
around every session run, and the bounded inference pool. No HTTP here.

One `OnnxAutoencoder` (vae_core.graphs) per bundle holds one `InferenceSession` per graph, shared
by every request (sessions are thread-safe). Every session run goes through `_runner`, where the
dynamic batcher (service.batching), when on, merges concurrent calls into one run.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial, wraps
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, TypeVarTuple

import numpy as np

from service.batching import Batcher
from service.errors import InferenceTimeout, Overloaded
from vae_core.graphs import Graph, OnnxAutoencoder, Runner, load_autoencoder, session_options

# Called after every session run with (model, graph, seconds, batch rows): the metrics hook.
InferenceObserver = Callable[[str, str, float, int], None]
T = TypeVar("T")
Ts = TypeVarTuple("Ts")
P = ParamSpec("P")


@dataclass(frozen=True)
class BatchingOptions:
    """Merge concurrent runs of a graph: at most `max_rows` rows, waiting at most `max_wait` s."""

    max_rows: int = 64
    max_wait: float = 0.002


@dataclass(frozen=True)
class RuntimeOptions:
    intra_op_threads: int = 1
    observe: InferenceObserver | None = None
    batching: BatchingOptions | None = None  # None: every call runs alone


def _runner(options: RuntimeOptions, model: str, graph: Graph) -> Runner:
    """How every batch runs through `graph`: observed by the metrics hook, and merged with
    concurrent calls when batching is on."""

    def observed(batch: np.ndarray) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        outputs = graph.run(batch)
        if options.observe is not None:
            options.observe(model, graph.name, time.perf_counter() - start, len(batch))
        return outputs

    if options.batching is None:
        return observed
    return Batcher(observed, options.batching.max_rows, options.batching.max_wait).run


class InferencePool:
    """Runs blocking inference work (decode, preprocess, ONNX, PNG) in its own worker threads, at
    most `concurrency` jobs at once, so the event loop stays free.

    Bounded: at most `concurrency + max_queue` jobs are admitted (running or waiting); past that a
    call raises Overloaded (503 + Retry-After) at once. A call that takes longer than `timeout`
    seconds, waiting included, raises InferenceTimeout (504); its job is cancelled if it has not
    started, and keeps its slot until it ends if it has, so the bound always holds."""

    def __init__(
        self, concurrency: int, max_queue: int = 64, timeout: float = 30.0, retry_after: int = 1
    ):
        self.concurrency = concurrency
        self.capacity = concurrency + max_queue
        self.timeout = timeout
        self.retry_after = retry_after
        self._admitted = 0
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Jobs running or waiting for a thread now."""
        return self._admitted

    async def run(self, work: Callable[[*Ts], T], *args: *Ts) -> T:
        self._admit()
        context = contextvars.copy_context()  # the request id reaches log lines in the worker
        try:
            future = self._pool().submit(lambda: context.run(work, *args))
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout)
        except TimeoutError:
            future.cancel()
            raise InferenceTimeout(
                f"inference took longer than {self.timeout:g} s", {"timeout_s": self.timeout}
            ) from None

    def close(self) -> None:
        """Finish the running jobs and stop the threads; a later `run` starts new ones."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.capacity:
                raise Overloaded(
                    f"the server is at capacity ({self.capacity} requests running or queued); "
                    f"retry in {self.retry_after} s",
                    {"capacity": self.capacity, "retry_after_s": self.retry_after},
                    headers={"Retry-After": str(self.retry_after)},
                )
            self._admitted += 1

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix="inference"
                )
            return self._executor


def load_model(directory: Path, options: RuntimeOptions) -> OnnxAutoencoder:
    """Read, verify (sha256, graph signatures) and warm one bundle; BundleInvalid says why not."""
    run_with = partial(_runner, options, directory.name)
    return load_autoencoder(directory, session_options(options.intra_op_threads), run_with)


class UsesPool(Protocol):
    @property
    def pool(self) -> InferencePool: ...


S = TypeVar("S", bound=UsesPool)


def in_pool(
    method: Callable[Concatenate[S, P], T],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """Make a blocking method a coroutine that runs it in its owner's inference pool: a route
    awaits `operations.decode(...)` and go-to-definition lands on the work itself."""

    @wraps(method)
    async def offloaded(self: S, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.pool.run(partial(method, self, *args, **kwargs))

    return offloaded
