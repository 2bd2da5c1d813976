"""Dynamic batching for one ONNX graph: concurrent calls are merged into one run.

Leader/follower, no thread of its own: the first caller to find no batch being collected becomes
the leader. It waits (on a Condition, never spinning) until `max_rows` rows are queued or
`max_wait` seconds have passed since it arrived, takes the queue in arrival order up to
`max_rows`, hands leadership to the first caller left over (if any), runs the merged batch and
gives every caller its own rows. Followers sleep on their own Event until their rows arrive or
they are made leader. A lone caller therefore waits at most `max_wait`, then runs alone.

If a merged run raises, each call in it is run again alone, so a bad call fails only itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

Outputs = dict[str, np.ndarray]
Runner = Callable[[np.ndarray], Outputs]
Clock = Callable[[], float]


class _Call:
    """One caller's rows and, once run, its outputs or its error."""

    __slots__ = ("arrived", "done", "error", "inputs", "lead", "outputs", "woken")

    def __init__(self, inputs: np.ndarray, arrived: float):
        self.inputs = inputs
        self.arrived = arrived
        self.woken = threading.Event()  # set when done, or when made leader
        self.lead = False
        self.done = False
        self.outputs: Outputs | None = None
        self.error: BaseException | None = None

    def finish(self, outputs: Outputs | None, error: BaseException | None) -> None:
        self.outputs, self.error, self.done = outputs, error, True
        self.woken.set()


class Batcher:
    """Merges concurrent `run` calls on one graph along axis 0. Thread-safe.

    `run_batch` executes one (merged) batch; `max_rows` bounds the rows of a merged run (a call
    with more rows runs alone); `max_wait` is in seconds; `clock` is injectable for tests."""

    def __init__(
        self, run_batch: Runner, max_rows: int, max_wait: float, clock: Clock = time.monotonic
    ):
        if max_rows < 1 or max_wait < 0:
            raise ValueError(f"need max_rows >= 1 and max_wait >= 0, got {max_rows}, {max_wait}")
        self._run_batch = run_batch
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._more = threading.Condition(self._lock)  # notified when a call joins the queue
        self._queue: deque[_Call] = deque()
        self._queued_rows = 0
        self._collecting = False  # a leader is gathering the next batch

    def run(self, inputs: np.ndarray) -> Outputs:
        """Run `inputs` [N, ...] through the graph, possibly merged with other callers' rows."""
        call = _Call(inputs, self._clock())
        with self._lock:
            self._queue.append(call)
            self._queued_rows += len(inputs)
            if self._collecting:
                self._more.notify()
            else:
                self._collecting = call.lead = True
        if not call.lead:
            call.woken.wait()
        if not call.done:  # made leader: this call is at the head of the queue
            self._execute(self._collect())
        if call.error is not None:
            raise call.error
        assert call.outputs is not None
        return call.outputs

    def _collect(self) -> list[_Call]:
        """Wait for a full batch or the deadline; take it; pass leadership on."""
        with self._lock:
            # Counted from the leader's arrival: a call left over from the last batch does not
            # start its wait again when it is made leader.
            deadline = self._queue[0].arrived + self._max_wait
            while self._queued_rows < self._max_rows:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._more.wait(remaining)
            batch = [self._queue.popleft()]  # the leader's own call, however many rows
            rows = len(batch[0].inputs)
            while self._queue and rows + len(self._queue[0].inputs) <= self._max_rows:
                batch.append(self._queue.popleft())
                rows += len(batch[-1].inputs)
            self._queued_rows -= rows
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.woken.set()
            else:
                self._collecting = False
        return batch

    def _execute(self, batch: list[_Call]) -> None:
        try:
            if len(batch) == 1:
                _run_alone(self._run_batch, batch[0])
                return
            try:
                merged = self._run_batch(np.concatenate([call.inputs for call in batch]))
                _split(merged, batch)
            except Exception:  # ORT's own error types, or rows that do not stack: try each alone
                for call in batch:
                    _run_alone(self._run_batch, call)
        finally:
            for call in batch:  # never leave a follower asleep, whatever happened
                if not call.done:
                    call.finish(None, RuntimeError("the batch was interrupted"))


def _run_alone(run_batch: Runner, call: _Call) -> None:
    try:
        outputs = run_batch(call.inputs)
    except Exception as exc:  # the caller re-raises it in its own thread
        call.finish(None, exc)
    else:
        call.finish(outputs, None)


def _split(merged: Outputs, batch: list[_Call]) -> None:
    """Give each call its own rows of every output (views into the merged arrays)."""
    total = sum(len(call.inputs) for call in batch)
    if any(len(array) != total for array in merged.values()):
        raise ValueError(f"a merged run of {total} rows gave {[a.shape for a in merged.values()]}")
    start = 0
    for call in batch:
        stop = start + len(call.inputs)
        call.finish({name: array[start:stop] for name, array in merged.items()}, None)
        start = stop
