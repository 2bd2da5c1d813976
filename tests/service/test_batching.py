"""The dynamic batcher: right rows to the right callers, errors kept per call, grouping and the
maximum wait asserted by grouping (never by wall time), and batched outputs identical to unbatched.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():  # as in conftest: Starlette's TestClient warning
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from service import imaging
from service.app import create_app
from service.batching import Batcher
from service.config import Settings
from service.runtime import BatchingOptions, RuntimeOptions, load_model
from vae_core.graphs import OnnxAutoencoder

pytestmark = pytest.mark.unit

JOIN_SECONDS = 60  # a bound so a broken batcher fails the test instead of hanging it


class Recorder:
    """A fake graph: y = 2x, id = x[:, 0]; records the rows of every run; NaN input raises."""

    def __init__(self) -> None:
        self.runs: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        with self._lock:
            self.runs.append(len(batch))
        if np.isnan(batch).any():
            raise ValueError("NaN in the input")
        return {"y": batch * 2, "id": batch[:, 0].copy()}


def run_concurrently(batcher: Batcher, inputs: list[np.ndarray]) -> list[object]:
    """Each input from its own thread; the outputs dict or the exception, in input order."""
    results: list[object] = [None] * len(inputs)

    def call(i: int) -> None:
        try:
            results[i] = batcher.run(inputs[i])
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a caller never got its result"
    return results


def rows(i: int, n: int) -> np.ndarray:
    """n distinct rows that identify caller i."""
    return np.arange(i * 1000, i * 1000 + n * 3, dtype=np.float32).reshape(n, 3)


def test_results_go_to_the_right_callers_under_concurrency() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_rows=8, max_wait=0.005)
    inputs = [rows(i, 1 + i % 3) for i in range(64)]
    results = run_concurrently(batcher, inputs)
    for x, result in zip(inputs, results, strict=True):
        assert isinstance(result, dict)
        np.testing.assert_array_equal(result["y"], x * 2)
        np.testing.assert_array_equal(result["id"], x[:, 0])
    assert sum(recorder.runs) == sum(len(x) for x in inputs)  # every row ran exactly once
    assert max(recorder.runs) <= 8


def test_concurrent_calls_are_merged_up_to_the_maximum_rows() -> None:
    # The wait is long, so each batch closes only when max_rows rows are queued.
    recorder = Recorder()
    batcher = Batcher(recorder, max_rows=2, max_wait=JOIN_SECONDS)
    results = run_concurrently(batcher, [rows(i, 1) for i in range(4)])
    assert all(isinstance(result, dict) for result in results)
    assert recorder.runs == [2, 2]


def test_a_call_larger_than_the_maximum_runs_alone_at_once() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_rows=2, max_wait=JOIN_SECONDS)
    result = batcher.run(rows(0, 5))
    np.testing.assert_array_equal(result["y"], rows(0, 5) * 2)
    assert recorder.runs == [5]


def test_a_lone_call_waits_no_longer_than_the_maximum_wait() -> None:
    # An hour's wait, but the injected clock passes an hour at each reading: the deadline, not a
    # batch-mate, must release the call, and it runs alone.
    now = [0.0]

    def clock() -> float:
        now[0] += 3600.0
        return now[0]

    recorder = Recorder()
    batcher = Batcher(recorder, max_rows=64, max_wait=3600.0, clock=clock)
    results = run_concurrently(batcher, [rows(0, 1)])
    assert isinstance(results[0], dict)
    assert recorder.runs == [1]


def test_with_no_wait_a_lone_call_runs_alone() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_rows=64, max_wait=0.0)
    for i in range(3):
        np.testing.assert_array_equal(batcher.run(rows(i, 1))["y"], rows(i, 1) * 2)
    assert recorder.runs == [1, 1, 1]


def test_a_bad_call_fails_alone_and_its_batch_mates_succeed() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_rows=3, max_wait=JOIN_SECONDS)
    bad = rows(1, 1)
    bad[0, 1] = np.nan
    inputs = [rows(0, 1), bad, rows(2, 1)]
    results = run_concurrently(batcher, inputs)
    assert isinstance(results[1], ValueError)
    for i in (0, 2):
        result = results[i]
        assert isinstance(result, dict)
        np.testing.assert_array_equal(result["y"], inputs[i] * 2)
    assert recorder.runs == [3, 1, 1, 1]  # the merged run failed; each call then ran alone


def test_rows_that_do_not_stack_run_alone() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_rows=2, max_wait=JOIN_SECONDS)
    narrow = np.ones((1, 2), np.float32)
    results = run_concurrently(batcher, [rows(0, 1), narrow])
    assert all(isinstance(result, dict) for result in results)
    assert sorted(recorder.runs) == [1, 1]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        Batcher(Recorder(), max_rows=0, max_wait=0.0)


# ------------------------------------------------------------------------ with the real graphs


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((16, 32), dtype=np.float32)


def decode_each(decode: Callable[[np.ndarray], np.ndarray], codes: np.ndarray) -> list[bytes]:
    """Each code decoded by its own thread into a PNG, in code order."""
    pngs: list[bytes] = [b""] * len(codes)

    def work(i: int) -> None:
        pngs[i] = imaging.pngs(decode(codes[i : i + 1]))[0]

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(codes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    return pngs


def test_batched_and_unbatched_decodes_are_byte_identical(
    model_dir: Path, codes: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = load_model(model_dir / "fashion-vae-32d", RuntimeOptions())
    runs: list[int] = []
    # max_rows = the number of callers and a long wait: all 16 meet in one merged run. (No
    # warm-up: its lone runs would wait the whole time.)
    monkeypatch.setattr(OnnxAutoencoder, "warm_up", lambda self: None)
    batched = load_model(
        model_dir / "fashion-vae-32d",
        RuntimeOptions(
            observe=lambda model, graph, seconds, n: runs.append(n),
            batching=BatchingOptions(max_rows=len(codes), max_wait=JOIN_SECONDS),
        ),
    )
    merged = decode_each(batched.decode, codes)
    assert runs == [len(codes)]
    assert merged == [imaging.pngs(alone.decode(codes[i : i + 1]))[0] for i in range(len(codes))]


@pytest.fixture(scope="module")
def batching_client(model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(model_dir=model_dir, batching=True, inference_concurrency=8)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_api_replies_are_byte_identical_with_batching_on_and_off(
    client: TestClient, batching_client: TestClient, codes: np.ndarray
) -> None:
    for endpoint, body in (
        ("decode", {"z": codes[:3].tolist()}),
        ("sample", {"n": 4, "seed": 7}),
        ("interpolate", {"z": codes[:2].tolist(), "steps": 5}),
    ):
        url = f"/v1/models/fashion-vae-32d/{endpoint}"
        on, off = batching_client.post(url, json=body), client.post(url, json=body)
        assert on.status_code == off.status_code == 200, on.text
        assert on.content == off.content, endpoint


def test_batch_sizes_are_in_the_metrics(batching_client: TestClient, codes: np.ndarray) -> None:
    response = batching_client.post(
        "/v1/models/fashion-vae-32d/decode", json={"z": codes[:3].tolist()}
    )
    assert response.status_code == 200
    text = batching_client.get("/metrics").text
    assert 'vae_serve_batch_size_bucket{graph="decoder",le="4.0",model="fashion-vae-32d"}' in text


def test_batching_settings_are_validated(model_dir: Path) -> None:
    for field, value in (
        ("batch_max_size", 0),
        ("batch_max_wait_ms", -1),
        ("batch_max_wait_ms", float("nan")),
    ):
        with pytest.raises(ValueError, match=field):
            Settings(model_dir=model_dir, **{field: value})
