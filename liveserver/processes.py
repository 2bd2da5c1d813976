"""Processes we start: a free loopback port for one, stopping it, and the resident memory of it
with all its descendants (uvicorn's workers)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path


def free_port() -> int:
    """A loopback port free now. Another process may take it before ours binds it: a server that
    fails to bind is started again on a new port (`liveserver.server.Server`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM this process (only the one we started), and SIGKILL it if it outlives `grace` s."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tree_rss_mb(root: int) -> float:
    """VmRSS of `root` and every process descended from it, summed, in MB; nan once `root` has
    gone."""
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
