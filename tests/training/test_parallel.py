"""The ordered process pool: the same results as `map`, in order, on any number of workers."""

from __future__ import annotations

import math
import operator

import pytest

from training.parallel import map_in_order

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("workers", [1, 2])
def test_map_in_order_gives_the_results_of_map_in_order(workers: int) -> None:
    jobs = range(25)  # more than the 2 * workers in flight, so the queue refills

    assert list(map_in_order(operator.neg, iter(jobs), workers)) == [-job for job in jobs]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_raises_its_error_in_the_caller(workers: int) -> None:
    with pytest.raises(ValueError, match="math domain error"):
        list(map_in_order(math.sqrt, [4.0, -1.0, 9.0], workers))
