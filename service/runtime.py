"""Serving a bundle: ONNX Runtime's session options, the metrics hook and the dynamic batcher
around every session run, and the bounded inference pool. No HTTP here.

One `OnnxAutoencoder` (vae_core.graphs) per bundle holds one `InferenceSession` per graph, shared
by every request (sessions are thread-safe). Every session run goes through `_runner`, where the
dynamic batcher (service.batching), when on, merges concurrent calls into one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial, wraps
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, TypeVarTuple

import numpy as np
import onnxruntime as ort

from service.batching import Batcher
from service.errors import InferenceTimeout, Overloaded
from vae_core.graphs import Graph, OnnxAutoencoder, Runner, load_autoencoder, session_options
from vae_core.vocabulary import Precision

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
    max_rows: int = 32  # rows per session run: bounds ONNX Runtime's working memory
    observe: InferenceObserver | None = None
    batching: BatchingOptions | None = None  # None: every call runs alone


def _runner(options: RuntimeOptions, model: str, graph: Graph) -> Runner:
    """How every batch runs through `graph`: merged with concurrent calls when batching is on,
    then in session runs of at most `max_rows` rows, each observed by the metrics hook."""

    def observed(batch: np.ndarray) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        outputs = graph.run(batch)
        if options.observe is not None:
            options.observe(model, graph.name, time.perf_counter() - start, len(batch))
        return outputs

    def chunked(batch: np.ndarray) -> dict[str, np.ndarray]:
        return in_chunks(observed, batch, options.max_rows)

    if options.batching is None:
        return chunked
    return Batcher(chunked, options.batching.max_rows, options.batching.max_wait).run


def in_chunks(run: Runner, batch: np.ndarray, rows: int) -> dict[str, np.ndarray]:
    """`run` over `batch` [N, ...] in slices of at most `rows` rows, outputs joined in order: a
    graph's intermediate tensors grow with the rows of a run, so this bounds them."""
    if len(batch) <= rows:
        return run(batch)
    parts = [run(batch[start : start + rows]) for start in range(0, len(batch), rows)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


# The weight of the newest job in the moving average of service time: about the last 50 jobs.
SERVICE_TIME_WEIGHT = 0.02
FINISHED_WINDOW = 64  # the last jobs whose end times measure the rate the pool finishes jobs at


def drain_rate(concurrency: int, service_time: float, finished: Sequence[float]) -> float:
    """Jobs a pool finishes per second, 0 before it has measured any: the better of two estimates.
    `concurrency / service_time` (each job's time on a thread) is right when threads run jobs
    side by side, but counts the time a thread waits for a core or the GIL as work; the rate the
    last jobs ended at (`finished`, end times) is right while the pool is busy, but counts its
    idle gaps. Each errs low, and a low rate refuses requests that would have fitted."""
    per_thread = concurrency / service_time if service_time > 0 else 0.0
    span = finished[-1] - finished[0] if len(finished) > 1 else 0.0
    observed = (len(finished) - 1) / span if span > 0 else 0.0
    return max(per_thread, observed)


class InferencePool:
    """Runs blocking inference work (parsing, decoding images, ONNX, PNG) in its own worker
    threads, at most `concurrency` jobs at once, so the event loop stays free.

    Admission is by time: a job is refused at once (Overloaded: 503 with `Retry-After`) when the
    wait it would face, the jobs ahead of it divided by the measured drain rate, is over
    `latency_budget` seconds; `max_queue` waiting jobs is a hard bound besides, for memory. A
    fast model so queues many requests and a slow one few, and a refusal costs a comparison
    (`refusal()`, which the HTTP guard asks before a request's body is read). A call that takes
    longer than `timeout` seconds, waiting included, raises InferenceTimeout (504); its job is
    dropped if it has not started, and keeps its slot until it ends if it has, so the bound holds.

    Lean on the event loop (a request pays one future, one timer and one wake-up): jobs go to the
    threads through a SimpleQueue, and each result comes back with one call_soon_threadsafe."""

    def __init__(
        self,
        concurrency: int,
        max_queue: int = 1024,
        timeout: float = 30.0,
        latency_budget: float = 2.0,
        on_refusal: Callable[[], None] | None = None,
    ):
        self.concurrency = concurrency
        self.capacity = concurrency + max_queue
        self.timeout = timeout
        self.latency_budget = latency_budget
        self.on_refusal = on_refusal
        self.service_time = 0.0  # seconds a job holds a thread: a moving average
        self.finished: deque[float] = deque(maxlen=FINISHED_WINDOW)  # end times of the last jobs
        self._admitted = 0
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    @property
    def admitted(self) -> int:
        """Jobs running or waiting for a thread now."""
        return self._admitted

    async def run(self, work: Callable[[*Ts], T], *args: *Ts) -> T:
        self._admit()
        loop = asyncio.get_running_loop()
        # The context: the request id reaches log lines in the worker.
        job = _Job(partial(contextvars.copy_context().run, work, *args), loop)
        try:
            self._start_threads()
            self._jobs.put(job)
        except BaseException:
            self._release()
            raise
        timer = loop.call_later(self.timeout, self._expire, job)
        try:
            result: T = await job.future
            return result
        finally:
            timer.cancel()

    def close(self) -> None:
        """Finish the running jobs, drop the waiting ones and stop the threads; a later `run`
        starts new ones."""
        with self._lock:
            threads, self._threads = self._threads, []
            jobs, self._jobs = self._jobs, queue.SimpleQueue()
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join()

    def expected_wait(self, admitted: int | None = None) -> float:
        """Seconds a job admitted now would wait for a thread: the jobs ahead of it over the
        drain rate (0 while nothing is measured)."""
        ahead = (self._admitted if admitted is None else admitted) + 1 - self.concurrency
        rate = drain_rate(self.concurrency, self.service_time, self.finished)
        return max(0, ahead) / rate if rate > 0 else 0.0

    def refusal(self) -> Overloaded | None:
        """Why a job would be refused now (counted as a refusal), or None if it would be admitted:
        its wait over the latency budget, or the queue at its bound. Lock-free: a snapshot."""
        admitted = self._admitted
        wait = self.expected_wait(admitted)
        full = admitted >= self.capacity
        if wait <= self.latency_budget and not full:
            return None
        if self.on_refusal is not None:
            self.on_refusal()
        rate = drain_rate(self.concurrency, self.service_time, self.finished)
        # Until the wait fits the budget again (or the queue has room), at this drain rate.
        excess = (admitted + 1 - self.capacity) / rate if rate > 0 else 0.0
        retry_after = max(1, math.ceil(max(wait - self.latency_budget, excess)))
        reason = (
            f"the queue is full ({self.capacity} requests running or queued)"
            if full
            else f"a request now would wait {wait:.2f} s, over the latency budget of "
            f"{self.latency_budget:g} s"
        )
        return Overloaded(
            f"the server is at capacity: {reason}; retry in {retry_after} s",
            {"expected_wait_s": round(wait, 3), "latency_budget_s": self.latency_budget,
             "admitted": admitted, "capacity": self.capacity,
             "drain_rate_per_s": round(rate, 1) if rate > 0 else None,
             "retry_after_s": retry_after},
            headers={"Retry-After": str(retry_after)},
        )  # fmt: skip

    def _admit(self) -> None:
        with self._lock:
            refusal = self.refusal()
            if refusal is not None:
                raise refusal
            self._admitted += 1

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def _finished(self, seconds: float) -> None:
        """Free a job's slot and fold its time into the drain rate."""
        with self._lock:
            self._admitted -= 1
            self.finished.append(time.perf_counter())
            if self.service_time:
                self.service_time += SERVICE_TIME_WEIGHT * (seconds - self.service_time)
            else:
                self.service_time = seconds

    def _start_threads(self) -> None:
        with self._lock:
            if self._threads:
                return
            for i in range(self.concurrency):
                thread = threading.Thread(
                    target=self._work, args=(self._jobs,), name=f"inference_{i}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _expire(self, job: _Job) -> None:
        """On the loop, at the deadline: a job still waiting is dropped (and its slot freed)."""
        with self._lock:
            if job.state == "queued":
                job.state = "dropped"
                self._admitted -= 1
        if not job.future.done():
            job.future.set_exception(
                InferenceTimeout(
                    f"inference took longer than {self.timeout:g} s", {"timeout_s": self.timeout}
                )
            )

    def _work(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        while (job := jobs.get()) is not None:
            with self._lock:
                if job.state == "dropped":
                    continue
                # A pool being closed drops what still waits in this queue.
                job.state = "running" if jobs is self._jobs else "dropped"
            if job.state == "dropped":
                job.settle(None, asyncio.CancelledError())
                self._release()
                continue
            result: object = None
            error: BaseException | None = None
            start = time.perf_counter()
            try:
                result = job.call()
            except BaseException as exc:  # the caller re-raises it on the loop
                error = exc
            self._finished(time.perf_counter() - start)  # its slot is free before the caller
            job.settle(result, error)  # resumes


class _Job:
    """One call waiting for, or running in, a pool thread; its result goes to `future`."""

    __slots__ = ("call", "future", "loop", "state")

    def __init__(self, call: Callable[[], Any], loop: asyncio.AbstractEventLoop):
        self.call = call
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.state = "queued"  # then "running", or "dropped" (timed out or closed while waiting)

    def settle(self, result: object, error: BaseException | None) -> None:
        """From the worker thread: hand the outcome to the loop."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for this result
            self.loop.call_soon_threadsafe(_settle, self.future, result, error)


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if future.done():  # timed out, or the caller was cancelled
        return
    if error is None:
        future.set_result(result)
    elif isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)


def load_model(
    directory: Path, options: RuntimeOptions, precision: Precision = "fp32"
) -> OnnxAutoencoder:
    """Read, verify (sha256, graph signatures) and warm one bundle at `precision`;
    BundleInvalid says why not."""
    run_with = partial(_runner, options, directory.name)
    return load_autoencoder(directory, serving_session_options(options), run_with, precision)


def serving_session_options(options: RuntimeOptions) -> ort.SessionOptions:
    """The core's options, without ONNX Runtime's memory arena: the arena keeps, for the life of
    the session, the largest working memory any run needed (a 256-row decode of the 64x64 faces
    left ~1.2 GB resident); without it, a run's tensors are freed when it ends."""
    session = session_options(options.intra_op_threads)
    session.enable_cpu_mem_arena = False
    return session


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 1024 * 1024
TRIM_THRESHOLD = 16 * 1024 * 1024


def return_freed_memory() -> None:
    """Make glibc give freed memory back to the system (call once per process, at start).

    Its default threshold for serving a block from mmap (unmapped when freed) rises to the
    largest block freed so far, up to 32 MiB: after one large batch, the next ones' tensors come
    from the heap, which is rarely returned. A fixed 1 MiB threshold (and trimming the heap past
    16 MiB free) keeps RSS near where it was after large requests (measured after four 256-row
    decodes of the faces model: +100 MB with glibc's defaults, +17 MB with these); a one-row
    request's tensors stay under 1 MiB, so they still come from the heap without page faults.
    Not glibc (musl, macOS): nothing to do."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)


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
