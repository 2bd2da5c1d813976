"""How fast graphs run on one thread, measured so that a shared machine disturbs it little: the
thread-CPU time of each run (time spent waiting for a core is not counted), candidates taken in
turns round after round (a change in the machine's load hits them alike), the median per run.
With one intra-op thread, ONNX Runtime runs a graph on the calling thread, so its thread time is
the graph's whole cost."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort

from vae_core.graphs import session_options

ROUNDS = 15
ROUND_SECONDS = 0.02  # each candidate runs at least this long per round


def one_thread_session(model: onnx.ModelProto | bytes | str) -> ort.InferenceSession:
    """A session as the service runs one by default: one intra-op thread, all optimisations."""
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(
        source, session_options(threads=1), providers=["CPUExecutionProvider"]
    )


def seconds_per_run(runs: Sequence[Callable[[], object]], rounds: int = ROUNDS) -> list[float]:
    """The median thread-CPU seconds of one call of each of `runs`, taken in turns."""
    repeats = [_repeats(run) for run in runs]
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, repeat, measured in zip(runs, repeats, times, strict=True):
            start = time.thread_time()
            for _ in range(repeat):
                run()
            measured.append((time.thread_time() - start) / repeat)
    return [float(np.median(measured)) for measured in times]


def _repeats(run: Callable[[], object]) -> int:
    """Calls per round: enough for ROUND_SECONDS of thread time (the first call warms up)."""
    run()
    start = time.thread_time()
    run()
    once = max(time.thread_time() - start, 1e-6)
    return max(1, min(1000, round(ROUND_SECONDS / once)))


def graph_seconds(
    sessions: Sequence[ort.InferenceSession], inputs: np.ndarray, rounds: int = ROUNDS
) -> list[float]:
    """`seconds_per_run` of each session on the same input batch (the graphs' one input)."""
    runs = [_runner(session, inputs) for session in sessions]
    return seconds_per_run(runs, rounds)


def _runner(session: ort.InferenceSession, inputs: np.ndarray) -> Callable[[], object]:
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(inputs, np.float32)}
    return lambda: session.run(None, feed)
