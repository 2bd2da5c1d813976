"""A process pool that maps a function over lazily built jobs, in order and bounded in memory."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import AsyncResult
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


def map_in_order(
    function: Callable[[Job], Result], jobs: Iterable[Job], workers: int
) -> Iterator[Result]:
    """`map(function, jobs)` on `workers` processes (in this one if workers <= 1), in order.

    At most two jobs per worker are in flight, so jobs built lazily (holding file contents) stay
    bounded in memory; `Pool.imap` would build them all up front. `function` must be importable.
    """
    if workers <= 1:
        yield from map(function, jobs)
        return
    # fork where there is one, as torch's DataLoader does: the children only decode or draw
    # images, and unlike spawn or forkserver it never re-runs the __main__ script in each child
    # (which loops forever when that script is stdin).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        pending: deque[AsyncResult[Result]] = deque()
        for job in jobs:
            pending.append(pool.apply_async(function, (job,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
