"""The Latent Studio at `/`, in headless Debian Chromium: every request that leaves 127.0.0.1 is
blocked and counted (it must stay 0), and the page must log no error to the console. Each feature
on fashion-vae-2d, fashion-vae-32d and faces-vae-200d: the map and live decoding under the
pointer, upload, attribute sliders, custom vectors, interpolation, sampling, dimension sliders,
the URL state; then the API-key flow, a bundle without a map, the phone layout and the keyboard.
The run takes the docs' screenshots, and writes them to docs/figures/ when VAE_SERVE_WRITE_FIGURES=1
(`make figures`), so that a test run leaves the working tree as it was.

Waits are on conditions (Playwright's auto-waiting, `expect`), never on time."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from liveserver.server import Server
from tests.conftest import ROOT
from tests.service.chromium import TIMEOUT_MS, chromium, offline_page
from tests.service.conftest import serve
from tests.service.helpers import png
from training.anomaly import remove_calibration
from training.datasets.fashion_mnist import load_fashion_mnist
from training.map_export import remove_latent_map

pytestmark = pytest.mark.e2e

MODELS = ("fashion-vae-2d", "fashion-vae-32d", "faces-vae-200d")
API_KEY = "studio-test-key-1234"
FIGURES = ROOT / "docs" / "figures"
WRITE_FIGURES = os.environ.get("VAE_SERVE_WRITE_FIGURES") == "1"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
Payload = dict[str, Any]  # a file for set_input_files: name, mimeType, buffer
BLOB = re.compile(r"^blob:http://127\.0\.0\.1:")  # an image the page fetched and shows


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def locked_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An API key, no data directory, and fashion-vae-2d without its latent map or calibration."""
    models = tmp_path_factory.mktemp("locked-models")
    shutil.copytree(model_dir / "fashion-vae-2d", models / "fashion-vae-2d")
    remove_latent_map(models / "fashion-vae-2d")
    remove_calibration(models / "fashion-vae-2d")
    log = tmp_path_factory.mktemp("locked-log") / "server.log"
    with Server(models, {"VAE_SERVE_API_KEY": API_KEY}, log) as server:
        yield server


@pytest.fixture(scope="module")
def api(live_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client


@dataclass(frozen=True)
class HeldOut:
    """A Fashion-MNIST test image and its index in the test set (and so on the map)."""

    index: int
    label: int
    png: bytes


@pytest.fixture(scope="module")
def held_out(fashion_dir: Path) -> list[HeldOut]:
    test = load_fashion_mnist(fashion_dir).test
    indices = [int((test.labels == label).nonzero()[0][0]) for label in range(10)]
    return [HeldOut(i, int(test.labels[i]), png(test.pixels[i])) for i in indices]


def payload(name: str, data: bytes) -> Payload:
    return {"name": name, "mimeType": "image/png", "buffer": data}


def sampled_pngs(api: httpx.Client, model: str, n: int, seed: int) -> list[bytes]:
    """Images the model decodes from its prior: faces for the faces model."""
    response = api.post(f"/v1/models/{model}/sample", json={"n": n, "seed": seed})
    assert response.status_code == 200, response.text
    return [base64.b64decode(image) for image in response.json()["images"]]


def images_for(model: str, api: httpx.Client, held_out: list[HeldOut]) -> list[Payload]:
    """Six images the model takes: Fashion-MNIST test images, or faces it decodes."""
    if model.startswith("faces"):
        data = sampled_pngs(api, model, 6, seed=11)
    else:
        data = [item.png for item in held_out[:6]]
    return [payload(f"image-{i}.png", blob) for i, blob in enumerate(data)]


def code_of(text: str | None) -> np.ndarray:
    """A code as the page writes it (URL-safe base64 of float32)."""
    assert text, "no code"
    padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
    return np.frombuffer(base64.b64decode(padded), dtype="<f4").astype(np.float64)


@dataclass
class Studio:
    page: Page
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __call__(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    @property
    def image(self) -> Locator:
        return self("decoded-image")

    def wait_idle(self) -> None:
        """Until no decode is in flight or waiting."""
        self.page.wait_for_function("() => document.body.dataset.decoding === 'idle'")

    def wait_ready(self, model: str) -> None:
        expect(self("model-select")).to_have_value(model)
        expect(self.image).to_have_attribute("data-model", model)
        self.wait_idle()

    def shown(self) -> np.ndarray:
        """The code whose decoded image is shown (after every decode settled)."""
        self.wait_idle()
        return code_of(self.image.get_attribute("data-z"))

    def changes(self, before: str | None) -> None:
        """Wait until the shown image is another code's, and decoding has settled."""
        expect(self.image).not_to_have_attribute("data-z", before or "")
        self.wait_idle()

    def z_attr(self) -> str | None:
        return self.image.get_attribute("data-z")

    def url_state(self) -> dict[str, list[str]]:
        self.page.evaluate("() => studio.state.writeUrl()")
        return parse_qs(urlsplit(self.page.url).query)

    def point(self, index: int) -> tuple[float, float]:
        xy = self.page.evaluate("i => studio.map.clientPoint(i)", index)
        return xy["x"], xy["y"]

    def map_box(self) -> dict[str, float]:
        box = self("map").bounding_box()
        assert box is not None
        return box

    def at(self, fx: float, fy: float) -> tuple[int, int]:
        """A point of the map, in whole pixels (where a pointer event says it is)."""
        box = self.map_box()
        return round(box["x"] + fx * box["width"]), round(box["y"] + fy * box["height"])

    def to_data(self, x: float, y: float) -> list[float]:
        """The map position under the client point (x, y)."""
        box = self.map_box()
        position: list[float] = self.page.evaluate(
            "([x, y]) => studio.map.toData(x, y)", [x - box["x"], y - box["y"]]
        )
        return position

    def projection(self) -> tuple[np.ndarray, np.ndarray]:
        projection = self.page.evaluate("() => studio.latentMap.projection")
        return np.asarray(projection["mean"]), np.asarray(projection["components"])


@contextmanager
def open_studio(
    browser: Browser,
    server: Server,
    model: str,
    viewport: dict[str, int] = DESKTOP,
    allowed: tuple[str, ...] = (),
    query: str | None = None,
    wait: bool = True,
    before: Callable[[Page], None] | None = None,
) -> Iterator[Studio]:
    """The Studio on `model` (or at `?query`), ready unless `wait` is false; `before` may route
    the page's requests first. At the end, no request may have left loopback and no console
    error may have been logged but those holding one of `allowed` (the browser logs every
    4xx/5xx answer: a test that provokes one names its status)."""
    blocked: list[str] = []
    studio = Studio(offline_page(browser, blocked, viewport=viewport), blocked)
    page = studio.page

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not any(text in message.text for text in allowed):
            studio.problems.append(f"console: {message.text} at {message.location}")

    page.on("console", console)
    page.on("pageerror", lambda error: studio.problems.append(f"page error: {error}"))
    if before is not None:
        before(page)
    page.goto(f"{server.url}/?{query if query is not None else f'model={model}'}")
    if wait:
        try:
            studio.wait_ready(model)
        except AssertionError as error:
            banner = studio("studio-error").text_content()
            raise AssertionError(f"{error}\nthe page says: {banner!r}; {studio.problems}") from None
    yield studio
    assert studio.blocked == [], studio.blocked
    assert studio.problems == [], studio.problems
    page.close()


# ------------------------------------------------------------------------- map and decoding


@pytest.mark.parametrize("model", MODELS)
def test_the_map_shows_the_held_out_points_and_the_pointer_decodes_the_code_under_it(
    browser: Browser, live_server: Server, api: httpx.Client, model: str
) -> None:
    detail = api.get(f"/v1/models/{model}").json()
    count = api.get(f"/v1/models/{model}/map").json()["count"]
    with open_studio(browser, live_server, model) as studio:
        info = studio("model-info")
        expect(info).to_contain_text("VAE")
        expect(info).to_contain_text(f"{detail['latent_dim']} dimensions")
        expect(info).to_contain_text(detail["dataset"]["name"])
        expect(info).to_contain_text("mse_per_pixel")
        expect(studio("map")).to_have_attribute("data-points", str(count))
        assert studio("map-legend").locator("li").count() >= 2
        options = studio("model-select").locator("option").all_inner_texts()
        assert set(MODELS) <= set(options)
        mean, components = studio.projection()
        for fx, fy in ((0.3, 0.35), (0.7, 0.6)):
            before = studio.z_attr()
            x, y = studio.at(fx, fy)
            studio.page.mouse.move(x, y)
            studio.changes(before)
            # The code decoded is the one under the pointer: it lands where the pointer is.
            position = studio.to_data(x, y)
            placed = (studio.shown() - mean) @ components[:2].T
            np.testing.assert_allclose(placed, position, rtol=1e-4, atol=1e-4)
        studio.page.mouse.click(x, y)
        expect(studio.page.locator("[data-testid=current-marker]")).to_have_count(1)
        np.testing.assert_allclose(code_of(studio.url_state()["z"][0]), studio.shown(), atol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_hovering_a_point_shows_its_thumbnail(
    browser: Browser, live_server: Server, model: str
) -> None:
    with open_studio(browser, live_server, model) as studio:
        (shown,) = apart(studio, 1, (0.1, 0.1, 0.9, 0.9))
        x, y = studio.point(shown)
        studio.page.mouse.move(x, y)
        hover = studio("hover-thumbnail")
        expect(hover).to_be_visible()
        index = int(hover.get_attribute("data-index") or -1)
        hx, hy = studio.point(index)
        assert abs(hx - x) <= 8 and abs(hy - y) <= 8  # the point under the pointer
        expect(hover).to_contain_text(f"#{index}")


def test_a_fast_drag_keeps_at_most_one_decode_in_flight_and_ends_on_the_last_code(
    browser: Browser, live_server: Server
) -> None:
    with open_studio(browser, live_server, "fashion-vae-2d") as studio:
        in_flight, most = [0], [0]

        def started(request: Any) -> None:
            if request.url.endswith("/decode"):
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])

        def ended(request: Any) -> None:
            if request.url.endswith("/decode"):
                in_flight[0] -= 1

        studio.page.on("request", started)
        studio.page.on("requestfinished", ended)
        studio.page.on("requestfailed", ended)
        for step in range(40):
            studio.page.mouse.move(*studio.at(0.2 + 0.6 * step / 39, 0.5))
        last = studio.to_data(*studio.at(0.8, 0.5))
        studio.wait_idle()
        assert most[0] == 1
        np.testing.assert_allclose(studio.shown(), last, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------ upload


@pytest.mark.parametrize("model", MODELS)
def test_an_upload_is_shown_beside_its_reconstruction_and_marked_on_the_map(
    browser: Browser, live_server: Server, api: httpx.Client, held_out: list[HeldOut], model: str
) -> None:
    image = images_for(model, api, held_out)[1]
    encoded = api.post(
        f"/v1/models/{model}/encode", files=[("images", ("x.png", image["buffer"], "image/png"))]
    )
    z_mean = np.asarray(encoded.json()["z_mean"][0])
    with open_studio(browser, live_server, model) as studio:
        before = studio.z_attr()
        studio("upload").set_input_files(image)
        expect(studio("reconstruction-image")).to_have_attribute("src", BLOB)
        expect(studio("upload-image")).to_have_attribute("src", BLOB)
        studio.changes(before)
        np.testing.assert_allclose(studio.shown(), z_mean, atol=1e-6)  # the current code now
        expect(studio.page.locator("[data-testid=upload-marker]")).to_have_count(1)
        expect(studio.page.locator("[data-testid=posterior-ellipse]")).to_have_count(1)
        expect(studio("neighbours").locator("li")).to_have_count(8)
        expect(studio("posterior-spread")).to_contain_text("σ")
        if not model.startswith("faces"):  # a held-out image's nearest point is itself
            first = studio("neighbours").locator("li").first
            expect(first).to_have_attribute("data-index", str(held_out[1].index))


def _dispatch(page: Page, event: str, target: str, data: bytes) -> None:
    """A drop (on `target`) or a paste (on the document) of one PNG file."""
    page.evaluate(
        """([event, target, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], "image.png", { type: "image/png" }));
          const init = { bubbles: true, cancelable: true };
          const node = document.querySelector(`[data-testid="${target}"]`) ?? document;
          node.dispatchEvent(event === "drop"
            ? new DragEvent("drop", { ...init, dataTransfer: transfer })
            : new ClipboardEvent("paste", { ...init, clipboardData: transfer }));
        }""",
        [event, target, base64.b64encode(data).decode()],
    )


@pytest.fixture(scope="module")
def fp32_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The map's points are the fp32 encoder's codes: an upload finds itself on them at fp32."""
    with serve(model_dir, tmp_path_factory.mktemp("fp32-data"), {"precision": "fp32"}) as server:
        yield server


def test_an_image_can_be_dropped_or_pasted(
    browser: Browser, fp32_server: Server, held_out: list[HeldOut]
) -> None:
    with open_studio(browser, fp32_server, "fashion-vae-2d") as studio:
        for event, item in (("drop", held_out[2]), ("paste", held_out[7])):
            before = studio.z_attr()
            _dispatch(studio.page, event, "upload-drop", item.png)
            studio.changes(before)
            first = studio("neighbours").locator("li").first
            expect(first).to_have_attribute("data-index", str(item.index))


# -------------------------------------------------------------------------------- attributes


@pytest.mark.parametrize("model", MODELS)
def test_an_attribute_slider_adds_its_vector_to_the_code(
    browser: Browser, live_server: Server, api: httpx.Client, model: str
) -> None:
    vectors = {
        a["name"]: a["vector"]
        for a in api.get(f"/v1/models/{model}/attributes").json()["attributes"]
    }
    name = "Smiling" if "Smiling" in vectors else "Trouser"
    with open_studio(browser, live_server, model) as studio:
        base = studio.shown()
        before = studio.z_attr()
        studio.page.locator(f'input[type=range][data-attribute="{name}"]').fill("2")
        studio.changes(before)
        np.testing.assert_allclose(studio.shown(), base + 2 * np.asarray(vectors[name]), atol=1e-4)
        assert studio.url_state()["a"] == [f"{name}:2"]


@pytest.mark.parametrize("model", MODELS)
def test_a_custom_vector_is_created_used_and_deleted(
    browser: Browser, live_server: Server, api: httpx.Client, held_out: list[HeldOut], model: str
) -> None:
    images = images_for(model, api, held_out)
    name = f"studio-{model}"
    slider = f'input[type=range][data-attribute="{name}"]'
    with open_studio(browser, live_server, model) as studio:
        studio("custom-name").fill(name)
        studio("custom-positive").set_input_files(images[:3])
        studio("custom-negative").set_input_files(images[3:])
        studio("custom-create").click()
        expect(studio("custom-status")).to_contain_text(f"Created “{name}” from 3 positive")
        vector = api.get(f"/v1/models/{model}/attributes/{name}").json()["vector"]
        base = studio.shown()
        before = studio.z_attr()
        studio.page.locator(slider).fill("1.5")
        studio.changes(before)
        np.testing.assert_allclose(studio.shown(), base + 1.5 * np.asarray(vector), atol=1e-4)
        studio.page.locator(f'[data-testid=custom-delete][data-attribute="{name}"]').click()
        expect(studio.page.locator(slider)).to_have_count(0)
        expect(studio("custom-status")).to_contain_text(f"Deleted “{name}”")
        np.testing.assert_allclose(studio.shown(), base, atol=1e-6)  # its strength went with it
    assert api.get(f"/v1/models/{model}/attributes/{name}").status_code == 404


def apart(studio: Studio, count: int, region: tuple[float, float, float, float]) -> list[int]:
    """`count` map points at least 24 pixels from each other, inside `region` of the map
    (fractions: left, top, right, bottom), so that a click lands on the one meant."""
    box = studio.map_box()
    left, top = box["x"] + region[0] * box["width"], box["y"] + region[1] * box["height"]
    right, bottom = box["x"] + region[2] * box["width"], box["y"] + region[3] * box["height"]
    chosen: list[tuple[int, float, float]] = []
    for index in range(2000):
        x, y = studio.point(index)
        inside = left <= x <= right and top <= y <= bottom
        if inside and all((x - cx) ** 2 + (y - cy) ** 2 >= 24**2 for _, cx, cy in chosen):
            chosen.append((index, x, y))
        if len(chosen) == count:
            return [index for index, _, _ in chosen]
    raise AssertionError(f"no {count} points far enough apart in {region}")


def test_examples_picked_on_the_map_make_a_custom_vector(
    browser: Browser, live_server: Server, api: httpx.Client
) -> None:
    name = "studio-picked"
    with open_studio(browser, live_server, "fashion-vae-2d") as studio:
        mouse, keyboard = studio.page.mouse, studio.page.keyboard
        keyboard.down("Shift")
        for index in apart(studio, 3, (0.4, 0.4, 0.95, 0.95)):  # shift-click: one point each
            mouse.click(*studio.point(index))
        expect(studio("pick-count")).to_have_attribute("data-positive", "3")
        studio("pick-negative").check()
        (left, top), (right, bottom) = studio.at(0.05, 0.05), studio.at(0.3, 0.3)
        mouse.move(left, top)  # a lasso: shift-drag around a corner of the map
        mouse.down()
        for x, y in ((right, top), (right, bottom), (left, bottom), (left, top + 1)):
            mouse.move(x, y, steps=4)
        mouse.up()
        keyboard.up("Shift")
        expect(studio("pick-count")).not_to_have_attribute("data-negative", "0")
        negatives = int(studio("pick-count").get_attribute("data-negative") or 0)
        assert negatives >= 3
        studio("custom-name").fill(name)
        studio("custom-create").click()
        expect(studio("custom-status")).to_contain_text(
            f"Created “{name}” from 3 positive and {negatives} negative"
        )
        expect(studio("pick-count")).to_have_attribute("data-positive", "0")
        studio.page.locator(f'[data-testid=custom-delete][data-attribute="{name}"]').click()
        expect(studio("custom-status")).to_contain_text(f"Deleted “{name}”")


def test_custom_vector_errors_are_shown_in_words(
    browser: Browser, live_server: Server, held_out: list[HeldOut]
) -> None:
    images = [payload(f"{i}.png", item.png) for i, item in enumerate(held_out)]
    with open_studio(browser, live_server, "fashion-vae-2d", allowed=("422",)) as studio:
        studio("custom-name").fill("too-few")
        studio("custom-positive").set_input_files(images[:1])
        studio("custom-negative").set_input_files(images[1:2])
        studio("custom-create").click()
        expect(studio("custom-error")).to_contain_text(
            "positive: Value should have at least 3 items"
        )
        studio("custom-name").fill("bad name!")
        studio("custom-positive").set_input_files(images[:3])
        studio("custom-negative").set_input_files(images[3:6])
        studio("custom-create").click()
        expect(studio("custom-error")).to_contain_text("should match pattern")


# ------------------------------------------------------------------------------------- interpolate


@pytest.mark.parametrize("model", MODELS)
def test_a_interpolate_gives_downloadable_frames_and_a_gif(
    browser: Browser, live_server: Server, api: httpx.Client, held_out: list[HeldOut], model: str
) -> None:
    image = images_for(model, api, held_out)[4]
    with open_studio(browser, live_server, model) as studio:
        studio("interpolate-a").set_input_files(image)
        studio("interpolate-b-current").click()
        expect(studio("interpolate-b-source")).to_have_text("the current code")
        studio("interpolate-steps").fill("6")
        studio("interpolate-method").select_option("slerp")
        studio("interpolate-run").click()
        frames = studio("interpolate-frames").locator("img")
        expect(frames).to_have_count(6)
        link = studio("interpolate-frames").locator("a").nth(2)
        expect(link).to_have_attribute("download", "interpolate-03.png")
        with studio.page.expect_download() as frame:
            link.click()
        assert Image.open(frame.value.path()).format == "PNG"
        expect(studio("interpolate-gif")).to_be_visible()
        with studio.page.expect_download() as gif:
            studio("interpolate-gif").click()
        assert gif.value.suggested_filename == "interpolate.gif"
        animation = Image.open(io.BytesIO(Path(gif.value.path()).read_bytes()))
        assert animation.format == "GIF" and animation.n_frames == 6


# ---------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("model", MODELS)
def test_sampling_draws_with_the_models_default_sampler(
    browser: Browser, live_server: Server, api: httpx.Client, model: str
) -> None:
    detail = api.get(f"/v1/models/{model}").json()
    names = [sampler["name"] for sampler in detail["samplers"]]
    with open_studio(browser, live_server, model) as studio:
        select = studio("sampler-select")
        expect(select.locator("option")).to_have_count(len(names))
        assert [o.get_attribute("value") for o in select.locator("option").all()] == names
        expect(select).to_have_value(detail["default_sampler"])
        studio("sample-seed").fill("3")
        studio("sample-temperature").fill("0.8")
        with studio.page.expect_response(lambda r: r.url.endswith("/sample")) as answer:
            studio("sample-run").click()
        sent = answer.value.request.post_data_json
        assert sent == {
            "n": 16,
            "temperature": 0.8,
            "seed": 3,
            "sampler": detail["default_sampler"],
        }
        expect(studio("sample-grid").locator("img")).to_have_count(16)
        expect(studio("sample-note")).to_have_text(f"seed 3; sampler {detail['default_sampler']}")
        before = studio.z_attr()
        studio("sample-grid").locator("button").nth(2).click()
        studio.changes(before)
        np.testing.assert_allclose(studio.shown(), answer.value.json()["z"][2], atol=1e-6)


def test_the_sampler_picker_lists_each_sampler_with_its_distance_and_draws_the_one_picked(
    browser: Browser, live_server: Server, api: httpx.Client
) -> None:
    detail = api.get("/v1/models/fashion-vae-2d").json()
    scored = {s["name"]: s["frechet_distance"] for s in detail["samplers"]}
    assert set(scored) == {"prior", "gaussian", "gmm"}
    with open_studio(browser, live_server, "fashion-vae-2d") as studio:
        options = studio("sampler-select").locator("option")
        for i, name in enumerate(scored):
            shown = f"{scored[name]:.1f}".rstrip("0").rstrip(".")  # as formatNumber(x, 1) writes it
            expect(options.nth(i)).to_contain_text(f"{name} (FD {shown})")
        picked = next(name for name in scored if name != detail["default_sampler"])
        studio("sampler-select").select_option(picked)
        with studio.page.expect_response(lambda r: r.url.endswith("/sample")) as answer:
            studio("sample-run").click()
        assert answer.value.request.post_data_json["sampler"] == picked
        assert answer.value.json()["sampler"] == picked
        expect(studio("sample-note")).to_contain_text(f"sampler {picked}")


# -------------------------------------------------------------------------------- dimensions


@pytest.mark.parametrize("model", MODELS)
def test_dimension_sliders_move_the_current_code(
    browser: Browser, live_server: Server, model: str
) -> None:
    with open_studio(browser, live_server, model) as studio:
        base = studio.shown()
        before = studio.z_attr()
        if model.endswith("-2d"):
            sliders = studio("dimension-sliders").locator("input[data-dimension]")
            expect(sliders).to_have_count(2)
            sliders.nth(1).fill("1.25")
            studio.changes(before)
            value = float(sliders.nth(1).input_value())  # snapped to the slider's step
            np.testing.assert_allclose(studio.shown(), [base[0], value], atol=1e-5)
        else:
            sliders = studio("dimension-sliders").locator("input[data-component]")
            expect(sliders).to_have_count(8)
            sliders.nth(0).fill("1.5")
            studio.changes(before)
            value = float(sliders.nth(0).input_value())
            mean, components = studio.projection()
            moved = studio.shown()
            np.testing.assert_allclose((moved - mean) @ components[0], value, atol=1e-3)
            np.testing.assert_allclose(  # the other components stay
                (moved - mean) @ components[1:].T, (base - mean) @ components[1:].T, atol=1e-3
            )


# -------------------------------------------------------------------------------------- URL


@pytest.mark.parametrize("model", MODELS)
def test_the_url_reproduces_the_view(
    browser: Browser, live_server: Server, api: httpx.Client, model: str
) -> None:
    first_attribute = api.get(f"/v1/models/{model}").json()["attributes"][0]
    slider = f'input[type=range][data-attribute="{first_attribute}"]'
    with open_studio(browser, live_server, model) as studio:
        before = studio.z_attr()
        studio.page.mouse.click(*studio.at(0.4, 0.6))
        studio.changes(before)
        before = studio.z_attr()
        studio.page.locator(slider).fill("-1.5")
        studio.changes(before)
        state = studio.url_state()
        assert state["model"] == [model] and state["a"] == [f"{first_attribute}:-1.5"]
        shown, url = studio.z_attr(), studio.page.url
        caption = studio("current-caption").inner_text()
    with open_studio(browser, live_server, model, query=urlsplit(url).query) as again:
        expect(again.page.locator(slider)).to_have_value("-1.5")
        expect(again.image).to_have_attribute("data-z", shown or "")
        expect(again("current-caption")).to_have_text(caption)


def test_picking_another_model_switches_the_whole_page(
    browser: Browser, live_server: Server
) -> None:
    with open_studio(browser, live_server, "fashion-vae-2d") as studio:
        studio("model-select").select_option("faces-vae-200d")
        studio.wait_ready("faces-vae-200d")
        expect(studio("map")).to_have_attribute("data-points", "2500")
        expect(studio("attribute-sliders").locator("input[data-attribute=Smiling]")).to_have_count(
            1
        )
        assert studio.url_state()["model"] == ["faces-vae-200d"]
        assert studio.shown().shape == (200,)


# ------------------------------------------------------------ API key, no map, phone, keyboard


def test_the_api_key_is_asked_for_once_and_a_wrong_key_is_explained(
    browser: Browser, locked_server: Server
) -> None:
    with open_studio(
        browser, locked_server, "fashion-vae-2d", allowed=("401",), wait=False
    ) as studio:
        dialog = studio("api-key-dialog")
        expect(dialog).to_be_visible()
        studio("api-key-input").fill("not-the-key")
        studio("api-key-submit").click()
        expect(studio("api-key-error")).to_contain_text("The server refused this key (401")
        studio("api-key-input").fill(API_KEY)
        studio("api-key-submit").click()
        expect(dialog).to_be_hidden()
        studio.wait_ready("fashion-vae-2d")
        studio.page.reload()  # the key is kept for the tab: not asked again
        studio.wait_ready("fashion-vae-2d")
        expect(dialog).to_be_hidden()


def test_a_bundle_without_a_map_says_so_and_everything_else_works(
    browser: Browser, locked_server: Server, held_out: list[HeldOut]
) -> None:
    allowed = ("503",)  # custom vectors without a data directory
    with open_studio(
        browser, locked_server, "fashion-vae-2d", allowed=allowed, wait=False
    ) as studio:
        studio("api-key-input").fill(API_KEY)
        studio("api-key-submit").click()
        studio.wait_ready("fashion-vae-2d")
        expect(studio("map-missing")).to_contain_text("has no latent map")
        expect(studio("map-missing")).to_contain_text(
            "python -m training map models/fashion-vae-2d"
        )
        expect(studio("map")).to_have_attribute("data-points", "0")
        expect(studio("anomaly-missing")).to_contain_text("no anomaly calibration")
        expect(studio("anomaly-missing")).to_contain_text(
            "vae-serve calibrate models/fashion-vae-2d"
        )
        expect(studio("score-select")).to_be_hidden()
        before = studio.z_attr()
        studio("upload").set_input_files(payload("trouser.png", held_out[1].png))
        expect(studio("reconstruction-image")).to_have_attribute("src", BLOB)
        studio.changes(before)
        expect(studio.page.locator("[data-testid=upload-marker]")).to_have_count(0)
        before = studio.z_attr()
        studio.page.locator('input[type=range][data-attribute="Bag"]').fill("1")
        studio.changes(before)
        before = studio.z_attr()
        studio("dimension-sliders").locator("input").first.fill("0.5")
        studio.changes(before)
        studio("sample-run").click()
        expect(studio("sample-grid").locator("img")).to_have_count(16)
        images = [payload(f"{i}.png", item.png) for i, item in enumerate(held_out)]
        studio("custom-name").fill("no-data-dir")
        studio("custom-positive").set_input_files(images[:3])
        studio("custom-negative").set_input_files(images[3:6])
        studio("custom-create").click()
        expect(studio("custom-error")).to_contain_text("VAE_SERVE_DATA_DIR")


def test_the_studio_fits_a_phone_and_works_from_the_keyboard(
    browser: Browser, live_server: Server
) -> None:
    with open_studio(browser, live_server, "fashion-vae-2d", viewport=PHONE) as studio:
        page = studio.page
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width  # nothing wider than the screen
        box = studio.map_box()
        assert box["width"] <= PHONE["width"]
        for _ in range(12):  # the map is reachable with Tab
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.dataset.testid") == "map":
                break
        assert page.evaluate("() => document.activeElement.dataset.testid") == "map"
        before = studio.z_attr()
        page.keyboard.press("ArrowRight")
        studio.changes(before)
        previewed = studio.z_attr()
        page.keyboard.press("Enter")  # the previewed code becomes the current code
        assert studio.url_state()["z"] == [previewed]
        slider = page.locator('input[type=range][data-attribute="Trouser"]')
        slider.focus()
        page.keyboard.press("ArrowRight")
        expect(slider).to_have_value("0.1")
        studio.changes(previewed)


# ---------------------------------------------------------------------------------- anomaly


def inverted(image: bytes) -> bytes:
    return png(255 - np.asarray(Image.open(io.BytesIO(image))))


def api_scores(api: httpx.Client, model: str, images: list[bytes], **options: object) -> dict:
    body = {"images": [base64.b64encode(i).decode() for i in images], **options}
    response = api.post(f"/v1/models/{model}/score", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_upload_shows_its_verdict_p_value_heatmap_and_place_on_the_histogram(
    browser: Browser, live_server: Server, api: httpx.Client, held_out: list[HeldOut]
) -> None:
    model = "fashion-vae-32d"
    normal, odd = held_out[7].png, inverted(held_out[2].png)
    with open_studio(browser, live_server, model) as studio:
        expect(studio("score-select")).to_be_visible()
        for image, flagged in ((normal, "false"), (odd, "true")):
            studio("upload").set_input_files(payload("upload.png", image))
            verdict = studio("score-verdict")
            expect(verdict).to_have_attribute("data-anomalous", flagged)
            expected = api_scores(api, model, [image])
            result = expected["results"][0]
            expect(studio("score-pvalue")).to_contain_text(f"p-value {pvalue_text(result)}")
            heatmap = studio("score-heatmap")
            expect(heatmap).to_be_visible()
            assert heatmap.evaluate("c => [c.width, c.height]") == [32, 32]
            expect(studio("score-image")).to_have_attribute("src", re.compile("^data:image/png"))
            histogram = studio("score-histogram")
            expect(histogram).to_be_visible()
            expect(histogram).to_have_attribute("data-score", str(result["score"]))
        # The score picker re-scores the same upload by another score.
        studio("score-select").select_option("elbo")
        expect(studio("score-verdict")).to_contain_text("elbo")
        expect(studio("score-pvalue")).to_contain_text(
            pvalue_text(api_scores(api, model, [odd], score="elbo")["results"][0])
        )


def pvalue_text(result: dict) -> str:
    """The p-value as the page writes it (util.js formatNumber, 4 digits)."""
    value = result["p_value"]
    return f"{value:.2e}".replace("e-0", "e-") if value < 1e-3 else f"{value:.4g}"


def test_many_files_are_ranked_most_anomalous_first_with_their_maps(
    browser: Browser, live_server: Server, api: httpx.Client, held_out: list[HeldOut]
) -> None:
    model = "fashion-vae-32d"
    images = {f"normal-{i}.png": item.png for i, item in enumerate(held_out[:6])}
    images |= {
        "inverted-a.png": inverted(held_out[8].png),
        "inverted-b.png": inverted(held_out[9].png),
    }
    expected = api_scores(api, model, list(images.values()))["results"]
    by_score = sorted(zip((r["score"] for r in expected), images, strict=True), reverse=True)
    ranking = [name for _, name in by_score]
    with open_studio(browser, live_server, model) as studio:
        studio("score-files").set_input_files([payload(n, data) for n, data in images.items()])
        rows = studio("score-table").locator("tbody tr")
        expect(rows).to_have_count(8)
        assert [rows.nth(i).get_attribute("data-name") for i in range(8)] == ranking
        assert set(ranking[:2]) == {"inverted-a.png", "inverted-b.png"}
        expect(rows.first).to_have_attribute("data-anomalous", "true")
        flagged = sum(r["anomalous"] for r in expected)
        expect(studio("score-status")).to_contain_text(f"{flagged} of 8 anomalous")
        assert rows.first.locator("img").count() == 2  # the image as the model sees it, its map


# ------------------------------------------------------------------------------- screenshots


def test_screenshots_of_the_studio_for_the_readme(
    browser: Browser,
    live_server: Server,
    api: httpx.Client,
    held_out: list[HeldOut],
    tmp_path: Path,
) -> None:
    """docs/figures/studio-fashion.png and studio-faces.png, from a fixed state (so an unchanged
    Studio gives the same pictures): an upload, its neighbours, a slider, samples and an
    interpolation."""
    shots = {
        "fashion-vae-2d": (held_out[0].png, "Trouser", "studio-fashion.png"),
        "faces-vae-200d": (
            sampled_pngs(api, "faces-vae-200d", 1, seed=5)[0],
            "Smiling",
            "studio-faces.png",
        ),
    }
    for model, (image, attribute, name) in shots.items():
        with open_studio(browser, live_server, model) as studio:
            studio("sample-seed").fill("0")
            studio("sample-run").click()
            expect(studio("sample-grid").locator("img")).to_have_count(16)
            studio("sample-grid").locator("button").nth(5).click()
            studio("interpolate-b-current").click()
            studio("interpolate-a").set_input_files(payload("upload.png", image))
            studio("interpolate-run").click()
            expect(studio("interpolate-frames").locator("img")).to_have_count(8)
            studio("upload").set_input_files(payload("upload.png", image))
            expect(studio("neighbours").locator("li")).to_have_count(8)
            studio.page.locator(f'input[type=range][data-attribute="{attribute}"]').fill("1.5")
            studio.page.mouse.move(0, 0)
            studio.page.evaluate("() => window.scrollTo(0, 0)")
            studio.wait_idle()
            path = (FIGURES if WRITE_FIGURES else tmp_path) / name
            studio.page.screenshot(path=str(path))
            assert Image.open(path).size == (DESKTOP["width"], DESKTOP["height"])


def test_screenshot_of_the_anomaly_panel_for_the_docs(
    browser: Browser, live_server: Server, held_out: list[HeldOut], tmp_path: Path
) -> None:
    """docs/figures/studio-anomaly.png: an image with a scratch across it (flagged, its map on
    the scratch), then eight files ranked, two of them inverted."""
    scratched = np.asarray(Image.open(io.BytesIO(held_out[3].png))).copy()
    scratched[8:11, 4:24] = 255
    files = {f"normal-{i}.png": item.png for i, item in enumerate(held_out[:6])}
    files |= {"inverted-a.png": inverted(held_out[8].png), "scratched.png": png(scratched)}
    with open_studio(browser, live_server, "fashion-vae-32d") as studio:
        studio("upload").set_input_files(payload("scratched.png", png(scratched)))
        expect(studio("score-verdict")).to_have_attribute("data-anomalous", "true")
        studio("score-files").set_input_files([payload(n, d) for n, d in files.items()])
        expect(studio("score-table").locator("tbody tr")).to_have_count(8)
        studio.wait_idle()
        panel = studio("anomaly-panel")
        panel.scroll_into_view_if_needed()
        path = (FIGURES if WRITE_FIGURES else tmp_path) / "studio-anomaly.png"
        panel.screenshot(path=str(path))
        assert Image.open(path).size[0] > 200
