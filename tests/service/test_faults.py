"""Process faults, with a real server process: SIGTERM drains the requests in flight before the
process exits 0, and `kill -9` in the middle of custom-vector writes never leaves a torn vector.
The assertions are about order and outcomes, never about speed."""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from liveserver.server import Server
from service.vector_store import ORPHAN_AGE_S, CustomVectorFile
from tests.conftest import serve
from tests.service.helpers import b64, pixels
from vae_core.bundle import read_manifest

pytestmark = pytest.mark.e2e

DECODER = "fashion-vae-32d"
LATENT_DIM = 32
IN_FLIGHT = 8  # decodes of 256 codes, queued behind one inference thread
EDITED = "fashion-vae-2d"
NAME = "handbag"
ROUNDS = 12
SEED = 20260
WRITERS = 3


def only_bundle(model_dir: Path, tmp_path: Path, name: str) -> Path:
    """A model folder holding one shipped bundle: a server over it starts quickly."""
    models = tmp_path / "models"
    shutil.copytree(model_dir / name, models / name)
    return models


def gauge(url: str, name: str) -> float:
    lines = httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
    return float(next(line.split()[1] for line in lines if line.startswith(f"{name} ")))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    pytest.fail(f"{what} did not happen within {timeout} s")


def refused(url: str) -> bool:
    """True once a new connection is refused; False while the server still accepts them."""
    try:
        httpx.get(f"{url}/healthz", timeout=5)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:  # accepted, then closed as the shutdown began
        return False
    return False


def exit_code(pid: int, timeout: float) -> int:
    """Reap the server process (our child, started by `serve`) and return its exit code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    pytest.fail(f"the server did not exit within {timeout} s of SIGTERM")


def test_sigterm_finishes_the_requests_in_flight_then_exits_0(
    model_dir: Path, tmp_path: Path
) -> None:
    """Heavy decodes queued behind one inference thread are all in the server when SIGTERM comes:
    it refuses new connections while they still run, answers each in full, then exits 0."""
    models = only_bundle(model_dir, tmp_path, DECODER)
    z = np.random.default_rng(0).standard_normal((256, LATENT_DIM)).round(3).tolist()
    url_path = f"/v1/models/{DECODER}/decode"
    settings = {"inference_concurrency": "1", "shutdown_timeout_s": "120"}
    with serve(models, tmp_path, settings) as server, ThreadPoolExecutor(IN_FLIGHT) as clients:
        calls = [
            clients.submit(httpx.post, f"{server.url}{url_path}", json={"z": z}, timeout=120)
            for _ in range(IN_FLIGHT)
        ]
        wait_for(  # every request received: running or queued in the inference pool
            lambda: (
                gauge(server.url, "vae_serve_inference_admitted") + sum(c.done() for c in calls)
                >= IN_FLIGHT
            ),
            "admitting every request",
        )
        os.kill(server.pid, signal.SIGTERM)
        wait_for(lambda: refused(server.url), "refusing new connections")
        still_running = sum(not call.done() for call in calls)
        responses = [call.result(timeout=120) for call in calls]
        code = exit_code(server.pid, timeout=120)
    assert still_running > 0  # new connections were refused while requests were in flight
    image = read_manifest(models / DECODER).image
    assert image.channels == 1
    for response in responses:
        assert response.status_code == 200, response.text
        images = response.json()["images"]
        assert len(images) == len(z)
        assert all(pixels(png).shape == (image.height, image.width) for png in images)
    # uvicorn re-raises the SIGTERM once it has drained (exit status -15): service/__main__.py
    # maps it to a clean exit.
    assert code == 0, f"exit status {code}"


# ------------------------------------------------------------------------------------- kill -9


def example_sets(fashion_pngs: dict[str, list[bytes]]) -> list[dict[str, list[str]]]:
    """Two bodies for the same name whose vectors differ: bags against shoes, and the reverse."""
    bags = [b64(image) for image in fashion_pngs["Bag"][:3]]
    shoes = [b64(image) for image in fashion_pngs["Sneaker"][:3]]
    return [{"positive": bags, "negative": shoes}, {"positive": shoes, "negative": bags}]


def put(url: str, body: dict[str, list[str]]) -> list[float]:
    response = httpx.put(f"{url}/v1/models/{EDITED}/attributes/{NAME}", json=body, timeout=60)
    assert response.status_code in (200, 201), response.text
    vector: list[float] = response.json()["vector"]
    return vector


def hammer(url: str, bodies: list[dict[str, list[str]]], stop: threading.Event) -> None:
    """PUT the bodies in turn until the server dies (bounded in count)."""
    for i in range(1000):
        if stop.is_set():
            return
        try:
            put(url, bodies[i % len(bodies)])
        except httpx.TransportError:  # killed
            return


def kill_during_writes(
    server: Server,
    folder: Path,
    bodies: list[dict[str, list[str]]],
    versions: list[list[float]],
    rng: random.Random,
) -> list[str]:
    """Kill -9 the server while writers hammer it: after a random delay, at the moment a write's
    temporary file is seen if one shows within 0.2 s, else then. Meanwhile a reader checks the
    stored vector over and over; returns what it saw that was not one of `versions`."""
    stop = threading.Event()
    with ThreadPoolExecutor(WRITERS + 1) as threads:
        writers = [threads.submit(hammer, server.url, bodies, stop) for _ in range(WRITERS)]
        reader = threads.submit(watch, folder / f"{NAME}.json", versions, stop)
        time.sleep(rng.uniform(0.05, 0.5))
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline and not temporaries(folder):
            pass  # spin: a write's window is short
        os.kill(server.pid, signal.SIGKILL)
        stop.set()
        for writer in writers:
            writer.result(timeout=60)
        return reader.result(timeout=60)


def watch(path: Path, versions: list[list[float]], stop: threading.Event) -> list[str]:
    """Read the stored vector until stopped (bounded in count); return the readings that were
    not whole or not one of `versions`."""
    wrong = []
    for _ in range(1_000_000):
        if stop.is_set():
            break
        try:
            vector = read_vector(path)
        except ValidationError as exc:
            wrong.append(f"torn: {exc.errors()[0]['msg']}")
            continue
        if vector not in versions:
            wrong.append(f"unknown vector {vector}")
    return wrong


def temporaries(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.name.endswith(".tmp")]


def read_vector(path: Path) -> list[float]:
    return CustomVectorFile.model_validate_json(path.read_bytes()).vector.vector


def stored_vector(folder: Path) -> list[float]:
    """The vector on disk, which must parse whole; beside it, only temporary files."""
    others = {p.name for p in folder.iterdir()} - {p.name for p in temporaries(folder)}
    assert others == {f"{NAME}.json"}
    return read_vector(folder / f"{NAME}.json")


def served_vector(url: str) -> list[float]:
    listed = httpx.get(f"{url}/v1/models/{EDITED}/attributes", timeout=60).json()["attributes"]
    assert [a["name"] for a in listed if a["custom"]] == [NAME]  # no temporary file read
    response = httpx.get(f"{url}/v1/models/{EDITED}/attributes/{NAME}", timeout=60)
    assert response.status_code == 200
    vector: list[float] = response.json()["vector"]
    return vector


def test_kill_9_during_custom_vector_writes_leaves_the_old_or_the_new_vector(
    model_dir: Path, tmp_path: Path, fashion_pngs: dict[str, list[bytes]]
) -> None:
    """Rounds of: restart the server (it serves the vector on disk), hammer PUTs of two versions,
    kill -9. The file is always one version whole, while writing and after each kill; the
    temporary files a kill leaves are never read as vectors and are deleted at a later start-up
    (some rounds leave none: the kill may miss every write)."""
    models = only_bundle(model_dir, tmp_path, EDITED)
    data = tmp_path / "data"
    data.mkdir()
    folder = data / EDITED / "attributes"
    bodies = example_sets(fashion_pngs)
    rng = random.Random(SEED)
    with serve(models, data) as server:
        versions = [put(server.url, body) for body in bodies]
    assert versions[0] != versions[1]
    for _ in range(ROUNDS):
        before = stored_vector(folder)
        with serve(models, data) as server:
            assert served_vector(server.url) == before  # the restarted server loads it
            seen = kill_during_writes(server, folder, bodies, versions, rng)
        assert seen == []
        assert stored_vector(folder) in versions
    long_ago = time.time() - 2 * ORPHAN_AGE_S
    for orphan in temporaries(folder):  # as if the next start-up came much later
        os.utime(orphan, (long_ago, long_ago))
    with serve(models, data) as server:
        assert served_vector(server.url) == stored_vector(folder)
    assert temporaries(folder) == []


# ----------------------------------------------------------------------- files broken on disk


def model_status(url: str, name: str) -> int:
    return httpx.get(f"{url}/v1/models/{name}", timeout=10).status_code


def test_the_disk_watcher_makes_a_broken_bundle_503_and_a_restored_one_serve(
    model_dir: Path, tmp_path: Path
) -> None:
    """On a real process, with the check off the request path: a corrupted, then a deleted file
    makes its model answer 503 with the reason while the other model serves; restoring the file
    brings it back."""
    models = only_bundle(model_dir, tmp_path, EDITED)
    shutil.copytree(model_dir / DECODER, models / DECODER)
    encoder, decoder = models / EDITED / "encoder.onnx", models / EDITED / "decoder.onnx"
    original_encoder, original_decoder = encoder.read_bytes(), decoder.read_bytes()
    body = {"z": [[0.0, 0.0]]}
    with serve(models, tmp_path, {"disk_check_interval_s": "0.05"}) as server:
        decode = f"{server.url}/v1/models/{EDITED}/decode"
        assert httpx.post(decode, json=body, timeout=30).status_code == 200
        for damage, reason in (
            (lambda: encoder.write_bytes(original_encoder[:-10]), "sha256 does not match"),
            (decoder.unlink, "decoder.onnx: missing"),
        ):
            damage()
            wait_for(lambda: model_status(server.url, EDITED) == 503, "a 503 for the broken model")
            refused = httpx.post(decode, json=body, timeout=30)
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "model_unavailable"
            assert reason in refused.json()["error"]["message"]
            assert model_status(server.url, DECODER) == 200
            encoder.write_bytes(original_encoder)
            decoder.write_bytes(original_decoder)
            wait_for(lambda: model_status(server.url, EDITED) == 200, "the model serving again")
            assert httpx.post(decode, json=body, timeout=30).status_code == 200
