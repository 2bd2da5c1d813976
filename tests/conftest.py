"""Shared fixtures (the shipped bundles, real Fashion-MNIST images, the live server: one of each per
test worker) and the tiers.

Every test is in exactly one tier, named by its marker (declared in pyproject.toml): `unit`,
`slow`, `e2e`, `evaluation` or `container` (docs/developing.md). A module sets the tier of its
tests with `pytestmark = pytest.mark.unit` (or another); a test marked with another tier is in
that tier instead. A test in no tier, or in two at once, fails in whatever tier is run. The
container tier runs only when asked for (`pytest -m container`, `make container-test`).

A test that needs a dataset or a tool calls `require(...)`: on a user's machine it skips when the
thing is missing, and the run ends by listing every skipped test with the command that would
enable it; in CI (VAE_SERVE_REQUIRE_ALL=1) it fails instead."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from liveserver.server import Server, ServerFailed
from tests.service.helpers import FUZZ_CASES, png
from training.datasets.fashion_mnist import find_fashion_mnist, load_fashion_mnist
from training.errors import DatasetNotFound

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
# Debian's packages for the data and tools of the suite (`make test` installs them itself as root).
SYSTEM_DEPS = "sudo make system-deps"
ENABLE = "; enable with: "
TIERS = ("unit", "slow", "e2e", "evaluation", "container")
ON_REQUEST = "container"  # the tier that runs only when `-m` names it
WRONG_TIERS = pytest.StashKey[list[str]]()


def worker_threads() -> int:
    """The cores each parallel test worker may use (`pytest -n N`, make test): all of them when
    the tests run in one process."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


def pytest_configure(config: pytest.Config) -> None:
    """Under parallel workers, torch in each worker and in the processes it starts gets its
    share of the cores (ONNX Runtime sessions take `worker_threads()`): threads beyond the cores
    wait on each other at every barrier, which makes training many times slower, not faster."""
    if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
        os.environ.setdefault("OMP_NUM_THREADS", str(worker_threads()))


def require(available: bool, what: str, enable: str = SYSTEM_DEPS) -> None:
    """Skip (user machine) or fail (CI) when a needed dataset or tool is missing; `enable` is the
    one command that would provide it."""
    if available:
        return
    if os.environ.get("VAE_SERVE_REQUIRE_ALL") == "1":
        pytest.fail(f"required in CI but missing: {what}{ENABLE}{enable}")
    pytest.skip(f"missing: {what}{ENABLE}{enable}")


def require_tool(name: str, enable: str = SYSTEM_DEPS) -> str:
    path = shutil.which(name)
    require(path is not None, f"the {name} executable", enable)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The Fashion-MNIST IDX files: $FASHION_MNIST_DIR, Debian's dataset-fashion-mnist, or a
    checksummed download into ~/.cache/vae-serve when the network allows."""
    try:
        return find_fashion_mnist()
    except DatasetNotFound as missing:
        require(False, f"Fashion-MNIST ({str(missing).splitlines()[0]})")
        raise


SHIPPED = ("fashion-vae-32d", "fashion-vae-2d", "fashion-ae-2d")
# The shipped bundles; another folder of bundles with the same names can stand in while developing.
SHIPPED_DIR = Path(os.environ.get("VAE_SERVE_TEST_MODEL_DIR", MODELS_DIR))


@pytest.fixture(scope="session")
def model_dir() -> Path:
    missing = [name for name in SHIPPED if not (SHIPPED_DIR / name / "model.json").is_file()]
    require(not missing, f"the shipped bundles {missing} in {SHIPPED_DIR}", "make train-shipped")
    return SHIPPED_DIR


@pytest.fixture(scope="session")
def fashion_pngs(fashion_dir: Path) -> dict[str, list[bytes]]:
    """The first 8 Fashion-MNIST test images of each class, as PNG files."""
    test = load_fashion_mnist(fashion_dir).test
    return {
        name: [png(test.pixels[i]) for i in (test.labels == label).nonzero()[0][:8]]
        for label, name in enumerate(test.label_names)
    }


@pytest.fixture(scope="session")
def trouser(fashion_pngs: dict[str, list[bytes]]) -> bytes:
    return fashion_pngs["Trouser"][0]


@pytest.fixture(scope="session")
def boot(fashion_pngs: dict[str, list[bytes]]) -> bytes:
    return fashion_pngs["Ankle boot"][0]


@pytest.fixture(scope="session")
def live_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m service` as a real process on a free loopback port: one per test worker, for
    the tests that change nothing on it."""
    with serve(model_dir, tmp_path_factory.mktemp("live-data")) as server:
        yield server


@contextmanager
def serve(
    model_dir: Path, data_dir: Path, settings: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """The service as a process (`liveserver`), failing the test if it does not come up.
    `settings` are extra `VAE_SERVE_*` variables, without the prefix; its log is
    data_dir/server.log."""
    env = {f"VAE_SERVE_{key.upper()}": value for key, value in (settings or {}).items()}
    try:
        server = Server(model_dir, env, data_dir / "server.log", data_dir=data_dir)
    except ServerFailed as error:
        pytest.fail(str(error))
    with server:
        yield server


def closest_tiers(item: pytest.Item) -> list[str]:
    """The tier markers nearest the test: its own, else its class's, else its module's."""
    for node in reversed(item.listchain()):
        tiers = sorted({mark.name for mark in node.own_markers if mark.name in TIERS})
        if tiers:
            return tiers
    return []


@pytest.hookimpl(tryfirst=True)  # before `-m` selects: it then sees each test's one tier
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move each test's tier onto the test itself (so a test marked e2e in a unit module is
    selected by `-m e2e` alone); put a test in no tier or in several in every tier, to fail
    whatever tier runs; leave the container tier out of a run that did not ask for it."""
    tiers = {item.nodeid: closest_tiers(item) for item in items}
    for item in items:
        for node in item.listchain()[:-1]:
            node.own_markers[:] = [mark for mark in node.own_markers if mark.name not in TIERS]
        found = tiers[item.nodeid]
        if len(found) != 1:
            item.stash[WRONG_TIERS] = found
            found = [tier for tier in TIERS if tier != ON_REQUEST]
        for tier in set(found) - {mark.name for mark in item.own_markers}:
            item.add_marker(tier)
    if ON_REQUEST in (config.getoption("markexpr") or ""):
        return
    later = [item for item in items if tiers[item.nodeid] == [ON_REQUEST]]
    if later:
        config.hook.pytest_deselected(items=later)
        items[:] = [item for item in items if tiers[item.nodeid] != [ON_REQUEST]]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if WRONG_TIERS in item.stash:
        pytest.fail(
            f"in tiers {item.stash[WRONG_TIERS]}: a test needs exactly one of {', '.join(TIERS)}. "
            "Add `pytestmark = pytest.mark.unit` (or another tier) at the top of its module, or "
            "mark the test itself (docs/developing.md).",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped_summary(terminalreporter)
    fuzz_summary(terminalreporter)


def skipped_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the run: every test that was skipped for want of data or a tool, by the command that
    would enable it."""
    by_command: dict[str, list[str]] = defaultdict(list)
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        command = reason.split(ENABLE, 1)[1] if ENABLE in reason else "(see the reason above)"
        by_command[command].append(report.nodeid)
    if not by_command:
        return
    terminalreporter.section("skipped: what would run them")
    for command, tests in by_command.items():
        terminalreporter.write_line(f"{len(tests)} skipped; to run them: {command}")
        for nodeid in tests:
            terminalreporter.write_line(f"  {nodeid}")


def fuzz_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After a run that fuzzed: how many cases each property sent (none may get a 5xx)."""
    cases = terminalreporter.config.stash.get(FUZZ_CASES, None)
    if not cases:
        return
    terminalreporter.section("fuzzing")
    total = sum(cases.values())
    terminalreporter.write_line(f"{total} cases sent (an answer >= 500 fails its test):")
    for name, count in cases.items():
        terminalreporter.write_line(f"  {name}: {count}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a test worker (xdist): hand the fuzzer's case counts to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["fuzz_cases"] = dict(session.config.stash.get(FUZZ_CASES, {}))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """On the controller: add up the counts each worker handed over."""
    counts = getattr(node, "workeroutput", {}).get("fuzz_cases", {})
    config: pytest.Config = node.config  # type: ignore[attr-defined]
    total = config.stash.setdefault(FUZZ_CASES, {})
    for name, count in counts.items():
        total[name] = total.get(name, 0) + count
