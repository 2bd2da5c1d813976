"""The `vae-serve` console script, run as a user runs it: the client commands against a real
server (their output and files equal the Python client's), errors in one line with a non-zero
status, the server and API key from the environment, `serve`, and the training commands."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from liveserver.processes import free_port, stop_process
from liveserver.server import Server
from tests.conftest import ROOT, serve
from tests.service.helpers import VAE
from vae_client import Client
from vae_client.images import grid

pytestmark = pytest.mark.e2e

VAE_SERVE = Path(sys.executable).parent / "vae-serve"
VAE32 = "fashion-vae-32d"
KEY = "a-cli-test-key"


def vae_serve(*args: str, url: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script, in a clean environment (plus `env`), with --url when given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VAE_SERVE_")}
    command = [str(VAE_SERVE), *args, *(["--url", url] if url else [])]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=clean | env, cwd=ROOT
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def failed(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The one line of a failure."""
    assert result.returncode == status, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 or status == 2, result.stderr  # argparse adds its usage line
    return lines[-1]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, trouser: bytes, boot: bytes) -> Path:
    folder = tmp_path_factory.mktemp("images")
    (folder / "trouser.png").write_bytes(trouser)
    (folder / "boot.png").write_bytes(boot)
    return folder


@pytest.fixture
def client(live_server: Server) -> Client:
    return Client(live_server.url)


def test_help_lists_every_command_with_examples() -> None:
    text = succeeded(vae_serve("--help"))
    for command in ("serve", "train", "export", "calibrate", "evaluate", "samplers", "map",
                    "quantize", "report", "classifier", "faces", "models", "encode", "decode",
                    "sample", "edit", "interpolate", "score"):  # fmt: skip
        assert re.search(rf"\n    {command}\s", text), command  # a long name has its own line
    assert "examples:" in text and "vae-serve edit -m" in text
    assert "+ATTR[=S]" in succeeded(vae_serve("edit", "--help"))


def test_models(live_server: Server) -> None:
    table = succeeded(vae_serve("models", url=live_server.url))
    assert table.startswith("MODEL") and f"\n{VAE} " in table
    listed = json.loads(succeeded(vae_serve("models", "--json", url=live_server.url)))
    assert VAE in {model["name"] for model in listed}


def test_encode_prints_the_codes_as_json(live_server: Server, client: Client, files: Path) -> None:
    images = [files / "trouser.png", files / "boot.png"]
    printed = json.loads(succeeded(vae_serve("encode", "-m", VAE, *map(str, images),
                                             url=live_server.url)))  # fmt: skip
    codes = client.encode(images, model=VAE)
    np.testing.assert_array_equal(np.asarray(printed["z_mean"], np.float32), codes.z_mean)
    assert np.asarray(printed["z_log_var"]).shape == (2, 2)


def test_decode_writes_the_png(live_server: Server, client: Client, tmp_path: Path) -> None:
    out = tmp_path / "decoded.png"
    succeeded(vae_serve("decode", "-m", VAE, "--z", "[[0.5, -1.0]]", "-o", str(out),
                        url=live_server.url))  # fmt: skip
    expected = client.decode(np.array([[0.5, -1.0]]), model=VAE)[0]
    np.testing.assert_array_equal(pixels(out), expected)


def test_sample_writes_a_grid(live_server: Server, client: Client, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    said = succeeded(vae_serve("sample", "-m", VAE, "-n", "16", "--seed", "3", "-o", str(out),
                               url=live_server.url))  # fmt: skip
    assert "16 samples, seed 3" in said
    expected = client.sample(16, model=VAE, seed=3).images
    assert pixels(out).shape == (4 * 32, 4 * 32)
    np.testing.assert_array_equal(pixels(out), grid(expected))


def test_sample_from_a_named_sampler(live_server: Server, client: Client, tmp_path: Path) -> None:
    out = tmp_path / "gmm.png"
    said = succeeded(vae_serve("sample", "-m", VAE, "-n", "4", "--seed", "1", "--sampler", "gmm",
                               "-o", str(out), url=live_server.url))  # fmt: skip
    assert "sampler gmm" in said
    expected = client.sample(4, model=VAE, seed=1, sampler="gmm").images
    np.testing.assert_array_equal(pixels(out), grid(expected))


def test_edit_adds_and_subtracts_attributes(
    live_server: Server, client: Client, files: Path, tmp_path: Path
) -> None:
    out = tmp_path / "edited.png"
    succeeded(vae_serve("edit", "-m", VAE, str(files / "trouser.png"), "+Bag", "-Trouser=1.5",
                        "-o", str(out), url=live_server.url))  # fmt: skip
    expected = client.edit(files / "trouser.png", {"Bag": 1.0, "Trouser": -1.5}, model=VAE)
    np.testing.assert_array_equal(pixels(out), expected.images[0])


def test_interpolate_writes_a_gif_or_a_strip(
    live_server: Server, files: Path, tmp_path: Path
) -> None:
    ends = [str(files / "trouser.png"), str(files / "boot.png")]
    gif, strip = tmp_path / "interpolate.gif", tmp_path / "interpolate.png"
    succeeded(vae_serve("interpolate", "-m", VAE, *ends, "--steps", "12", "-o", str(gif),
                        url=live_server.url))  # fmt: skip
    assert getattr(Image.open(gif), "n_frames", 1) == 12
    succeeded(vae_serve("interpolate", "-m", VAE, *ends, "--steps", "5", "-o", str(strip),
                        url=live_server.url))  # fmt: skip
    assert pixels(strip).shape == (32, 5 * 32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, fashion_pngs: dict[str, list[bytes]]) -> Path:
    """Six test images in a folder and a subfolder, one of them inverted."""
    root = tmp_path_factory.mktemp("to-score")
    (root / "more").mkdir()
    for i, data in enumerate(fashion_pngs["Sneaker"][:5]):
        (root / f"sneaker-{i}.png").write_bytes(data)
    inverted = 255 - np.asarray(Image.open(io.BytesIO(fashion_pngs["Bag"][0])))
    Image.fromarray(inverted).save(root / "more" / "inverted-bag.png")
    return root


def test_score_ranks_a_folder_and_writes_csv_json_and_maps(
    live_server: Server, client: Client, folder: Path, tmp_path: Path
) -> None:
    table = succeeded(vae_serve("score", "-m", VAE32, str(folder), "--rank", url=live_server.url))
    lines = table.strip().splitlines()
    assert lines[0].split() == ["path", "score", "p_value", "anomalous"]
    assert "inverted-bag.png" in lines[1] and "ANOMALOUS" in lines[1]  # most anomalous first
    scored = client.score(sorted(folder.rglob("*.png")), model=VAE32)
    flagged = sum(result.anomalous for result in scored.results)
    assert len(lines) == 1 + 6 + 1 and lines[-1].startswith(f"{flagged} of 6 images anomalous")

    out, maps = tmp_path / "scores.csv", tmp_path / "maps"
    succeeded(vae_serve("score", "-m", VAE32, str(folder), "--all-scores", "--fpr", "0.01",
                        "--batch", "4", "--maps", str(maps), "-o", str(out),
                        url=live_server.url))  # fmt: skip
    with out.open() as f:
        rows = list(csv.DictReader(f))
    files = sorted(folder.rglob("*.png"))
    assert [row["path"] for row in rows] == [str(p) for p in files]  # input order, both batches
    expected = client.score(files, model=VAE32, fpr=0.01, all_scores=True)
    for row, result in zip(rows, expected.results, strict=True):
        assert float(row["score"]) == pytest.approx(result.score)
        assert row["anomalous"] == str(result.anomalous) and float(row["fpr"]) == 0.01
        assert float(row["elbo"]) == pytest.approx(result.scores["elbo"])  # type: ignore[index]
        assert pixels(Path(row["map"])).shape == (32, 32)
    as_json = tmp_path / "scores.json"
    succeeded(vae_serve("score", "-m", VAE32, str(folder), "-o", str(as_json), url=live_server.url))
    assert [r["path"] for r in json.loads(as_json.read_text())] == [str(p) for p in files]


def test_score_says_what_is_wrong_in_one_line(live_server: Server, folder: Path) -> None:
    url = live_server.url
    assert "no such file or folder" in failed(vae_serve("score", "-m", VAE32, "nope/", url=url))
    empty = folder / "more" / "empty"
    empty.mkdir(exist_ok=True)
    assert "no image files found" in failed(vae_serve("score", "-m", VAE32, str(empty), url=url))
    line = failed(vae_serve("score", "-m", "fashion-ae-2d", str(folder), "--score", "nll", url=url))
    assert "offers no score 'nll'" in line
    assert "give .csv or .json" in failed(
        vae_serve("score", "-m", VAE32, str(folder), "-o", str(folder / "x.txt"), url=url)
    )


def test_errors_are_one_line_and_a_non_zero_status(live_server: Server, files: Path) -> None:
    url = live_server.url
    line = failed(vae_serve("decode", "-m", "no-such-model", "--z", "[[0, 0]]", "-o", "x.png",
                            url=url))  # fmt: skip
    assert line.startswith("vae-serve: error: model_not_found: no model named 'no-such-model'")
    line = failed(vae_serve("encode", "-m", VAE, str(files / "missing.png"), url=url))
    assert "No such file" in line and "missing.png" in line
    line = failed(vae_serve("edit", "-m", VAE, str(files / "trouser.png"), "+Wings", "-o",
                            "x.png", url=url))  # fmt: skip
    assert "attribute_not_found" in line
    line = failed(vae_serve("models", url=f"http://127.0.0.1:{free_port()}"))
    assert "no answer from" in line
    assert "not a JSON list" in failed(vae_serve("decode", "-m", VAE, "--z", "[[0, ", "-o",
                                                 "x.png", url=url), status=2)  # fmt: skip


def test_the_server_and_key_come_from_the_environment(model_dir: Path, tmp_path: Path) -> None:
    with serve(model_dir, tmp_path, {"api_key": KEY}) as server:
        line = failed(vae_serve("models", VAE_SERVE_URL=server.url))
        assert "unauthorized" in line
        assert VAE in succeeded(vae_serve("models", VAE_SERVE_URL=server.url,
                                          VAE_SERVE_API_KEY=KEY))  # fmt: skip
        assert VAE in succeeded(vae_serve("models", "--api-key", KEY, url=server.url))


def test_serve_runs_the_service(model_dir: Path) -> None:
    port = free_port()
    command = [str(VAE_SERVE), "serve", "--port", str(port), "--model-dir", str(model_dir),
               "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        for _ in range(600):  # bounded: start-up takes about a second
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "vae-serve serve exited"
            time.sleep(0.1)
        else:
            pytest.fail("vae-serve serve was not ready")
    finally:
        stop_process(process)
    assert process.returncode == 0  # a clean stop on SIGTERM


def test_training_commands_reach_the_training_command_line() -> None:
    text = succeeded(vae_serve("train", "--help"))
    assert "--latent-dim" in text and "--epochs" in text


def test_a_training_command_without_the_training_extra_says_what_to_install() -> None:
    """What the `train` extra brings made unimportable, as in an install without it (the
    training command line fails on its own imports, or when the command loads torch)."""
    code = (
        "import sys; sys.modules.update(dict.fromkeys(['torch', 'onnx', 'tqdm', 'matplotlib'])); "
        "from vae_serve.cli import main; "
        "sys.exit(main(['export', '--checkpoint', 'runs/x/ckpt.pt', '--out', 'models/x']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    line = failed(result)
    assert "needs the training extra" in line and "pip install 'vae-serve[train]'" in line
    assert result.stdout == ""
