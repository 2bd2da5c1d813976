// Interpolate: walk from A to B (each an uploaded image, encoded, or the current code) in N steps,
// linearly or along a great circle (slerp). The frames appear as images, each a link that
// downloads it, and the same walk as an animated GIF to download.

import { byTestId, describeError, el, modelPath, pngDataUrl, showMessage } from "./util.js";

const FRAME_MS = 120;

export class InterpolatePanel {
  /** `displayed()`: the code shown now (an end of the interpolation can be it). */
  constructor({ api, state, displayed }) {
    this.api = api;
    this.state = state;
    this.displayed = displayed;
    this.frames = byTestId("interpolate-frames");
    this.gif = byTestId("interpolate-gif");
    this.error = byTestId("interpolate-error");
    this.run = byTestId("interpolate-run");
    this.ends = { a: null, b: null }; // {label, file} or {label, code}
    this.gifUrl = null;
    for (const end of ["a", "b"]) {
      const input = byTestId(`interpolate-${end}`);
      input.addEventListener("change", () => {
        if (input.files.length)
          this.setEnd(end, { label: input.files[0].name, file: input.files[0] });
      });
      byTestId(`interpolate-${end}-current`).addEventListener("click", () => {
        input.value = "";
        this.setEnd(end, { label: "the current code", code: this.displayed() });
      });
    }
    this.run.addEventListener("click", () => this.interpolate());
  }

  reset() {
    this.ends = { a: null, b: null };
    for (const end of ["a", "b"]) {
      byTestId(`interpolate-${end}`).value = "";
      byTestId(`interpolate-${end}-source`).textContent = "not set";
    }
    this.frames.replaceChildren();
    this.setGif(null);
    showMessage(this.error, "");
  }

  setEnd(end, source) {
    this.ends[end] = source;
    byTestId(`interpolate-${end}-source`).textContent = source.label;
  }

  async interpolate() {
    const { api, state } = this;
    const model = state.model;
    showMessage(this.error, "");
    if (!this.ends.a || !this.ends.b) {
      showMessage(this.error, "Set both A and B: an image, or the current code.");
      return;
    }
    this.run.disabled = true;
    try {
      const z = [];
      for (const end of [this.ends.a, this.ends.b]) z.push(Array.from(await this.code(end)));
      const body = {
        z,
        steps: Number(byTestId("interpolate-steps").value),
        method: byTestId("interpolate-method").value,
      };
      const path = modelPath(model, "/interpolate");
      const [frames, gif] = await Promise.all([
        api.json("POST", path, { json: body }),
        api.blob("POST", path, { json: { ...body, format: "gif", frame_ms: FRAME_MS } }),
      ]);
      if (model !== state.model) return;
      this.frames.replaceChildren(
        ...frames.images.map((png, i) =>
          el(
            "a",
            {
              href: pngDataUrl(png),
              download: `interpolate-${String(i + 1).padStart(2, "0")}.png`,
              title: `download frame ${i + 1}`,
            },
            el("img", { src: pngDataUrl(png), alt: `frame ${i + 1} of ${frames.images.length}` }),
          ),
        ),
      );
      this.setGif(gif);
    } catch (error) {
      showMessage(this.error, `Could not interpolate: ${describeError(error)}`);
    } finally {
      this.run.disabled = false;
    }
  }

  /** An end's code: encoded from its image (z_mean), or as it was taken. */
  async code(end) {
    if (end.code) return end.code;
    const form = new FormData();
    form.append("images", end.file);
    const codes = await this.api.json("POST", modelPath(this.state.model, "/encode"), {
      form,
    });
    return codes.z_mean[0];
  }

  setGif(blob) {
    if (this.gifUrl) URL.revokeObjectURL(this.gifUrl);
    this.gifUrl = blob ? URL.createObjectURL(blob) : null;
    if (this.gifUrl) this.gif.href = this.gifUrl;
    else this.gif.removeAttribute("href");
    this.gif.hidden = !blob;
  }
}
