"""The server's RSS is summed over its process tree, so several uvicorn workers all count."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liveserver.processes import process_tree, tree_rss_mb

pytestmark = pytest.mark.unit

# A parent that starts a child (both Python: several MB each), says the child's PID, then waits.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print(child.pid, flush=True)
time.sleep(30)
"""


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_process_tree_is_the_root_and_all_its_descendants() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
    assert sorted(process_tree(10, parents)) == [10, 11, 12, 13]
    assert process_tree(13, parents) == [13]


@pytest.mark.e2e
def test_tree_rss_is_the_parent_plus_its_child() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        time.sleep(0.5)  # the child's interpreter up, so its RSS is steady
        alone = vm_rss_mb(parent.pid)
        expected = alone + vm_rss_mb(child)
        assert vm_rss_mb(child) > 1.0
        assert tree_rss_mb(parent.pid) == pytest.approx(expected, abs=0.5)
        assert tree_rss_mb(child) == pytest.approx(vm_rss_mb(child), abs=0.5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()


@pytest.mark.e2e
def test_tree_rss_of_a_process_that_has_gone_is_nan() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert math.isnan(tree_rss_mb(gone.pid))
