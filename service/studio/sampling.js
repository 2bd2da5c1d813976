// Sampling: draw codes with one of the model's samplers at a temperature and seed, and show their
// images; clicking one makes its code the current code.
//
// The picker lists the model's `samplers` (GET /v1/models/{model}: name, frechet_distance,
// default) when the server reports them, and sends the one chosen as `sampler`. A server without
// them offers one entry, the model's prior, and sends no `sampler` field.

import {
  byTestId,
  describeError,
  el,
  formatNumber,
  modelPath,
  pngDataUrl,
  showMessage,
} from "./util.js";

const COUNT = 16;
export class SamplingPanel {
  constructor({ api, state }) {
    this.api = api;
    this.state = state;
    this.select = byTestId("sampler-select");
    this.grid = byTestId("sample-grid");
    this.note = byTestId("sample-note");
    this.error = byTestId("sample-error");
    this.run = byTestId("sample-run");
    this.run.addEventListener("click", () => this.sample());
  }

  reset(detail) {
    this.select.replaceChildren(
      ...detail.samplers.map((sampler) => new Option(label(sampler), sampler.name)),
    );
    this.select.value = detail.default_sampler;
    this.grid.replaceChildren();
    this.note.textContent = "";
    showMessage(this.error, "");
  }

  async sample() {
    const { api, state } = this;
    const model = state.model;
    showMessage(this.error, "");
    const body = { n: COUNT, temperature: Number(byTestId("sample-temperature").value) };
    const seed = byTestId("sample-seed").value.trim();
    if (seed !== "") body.seed = Number(seed);
    body.sampler = this.select.value;
    this.run.disabled = true;
    try {
      const result = await api.json("POST", modelPath(model, "/sample"), { json: body });
      if (model !== state.model) return;
      this.grid.replaceChildren(
        ...result.images.map((png, i) =>
          el(
            "button",
            {
              type: "button",
              class: "sample",
              title: "make this sample's code the current code",
              dataset: { index: i },
              onclick: () => state.setCode(Float32Array.from(result.z[i]), "sample"),
            },
            el("img", { src: pngDataUrl(png), alt: `sample ${i + 1}` }),
          ),
        ),
      );
      this.note.textContent = `seed ${result.seed}; sampler ${result.sampler}`;
    } catch (error) {
      showMessage(this.error, `Could not sample: ${describeError(error)}`);
    } finally {
      this.run.disabled = false;
    }
  }
}

function label(sampler) {
  const distance = sampler.frechet_distance;
  const fd =
    distance === null || distance === undefined ? "" : ` (FD ${formatNumber(distance, 1)})`;
  return `${sampler.name}${fd}${sampler.default ? ", default" : ""}`;
}
