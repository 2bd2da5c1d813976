// Dimensions: for a latent of at most 16 dimensions, one slider per dimension of the current code;
// for a larger one, one per leading principal component of the map (PCA of its codes), moving the
// code along it. Ranges span ±4 standard deviations of the map's codes.

import { along, byTestId, coordinate, el, formatNumber } from "./util.js";

const MAX_DIMENSION_SLIDERS = 16;
const SPAN = 4; // standard deviations either side
const STEPS = 200;

export class DimensionsPanel {
  /** `latentMap()`: the current model's map, or null. */
  constructor({ state, latentMap }) {
    this.state = state;
    this.latentMap = latentMap;
    this.sliders = byTestId("dimension-sliders");
    this.note = byTestId("dimensions-note");
    this.kind = "none";
    this.sliders.addEventListener("input", (event) => this.onInput(event.target));
  }

  reset(detail) {
    const map = this.latentMap();
    const dim = detail.latent_dim;
    if (dim <= MAX_DIMENSION_SLIDERS) {
      this.kind = "dimension";
      const mean = map ? map.code_mean : new Array(dim).fill(0);
      const std = map ? map.code_std : new Array(dim).fill(1);
      this.note.textContent = `One slider per dimension of the current code (${dim}).`;
      this.build(dim, (i) => [`z[${i}]`, mean[i], std[i]]);
    } else if (map) {
      this.kind = "component";
      const { scale, explained_variance_ratio: ratio } = map.projection;
      this.note.textContent =
        `${dim} dimensions: one slider per leading principal component of the map's codes ` +
        `(together ${formatNumber(100 * ratio.reduce((a, b) => a + b, 0), 1)}% of their variance).`;
      this.build(scale.length, (k) => [
        `PC ${k + 1} (${formatNumber(100 * ratio[k], 1)}%)`,
        0,
        scale[k],
      ]);
    } else {
      this.kind = "none";
      this.note.textContent =
        `${dim} dimensions: the principal components come with the latent map, which this ` +
        "bundle does not have.";
      this.sliders.replaceChildren();
    }
  }

  /** `count` sliders; `spec(i)` gives [label, centre, spread]. */
  build(count, spec) {
    const rows = [];
    for (let i = 0; i < count; i += 1) {
      const [label, centre, spread] = spec(i);
      const half = SPAN * Math.max(spread, 0.05);
      const id = `${this.kind}-${i}`;
      rows.push(
        el(
          "div",
          { class: "slider" },
          el("label", { for: id, text: label }),
          el("input", {
            id,
            type: "range",
            min: centre - half,
            max: centre + half,
            step: (2 * half) / STEPS,
            dataset: { [this.kind]: i },
          }),
          el("output", { for: id, text: "" }),
        ),
      );
    }
    this.sliders.replaceChildren(...rows);
  }

  onInput(slider) {
    const value = Number(slider.value);
    const state = this.state;
    const latentMap = this.latentMap();
    if (slider.dataset.dimension !== undefined) {
      const code = Float32Array.from(state.code);
      code[Number(slider.dataset.dimension)] = value;
      state.setCode(code, "dimension");
    } else if (slider.dataset.component !== undefined) {
      const k = Number(slider.dataset.component);
      state.setCode(along(latentMap.projection, state.code, k, value), "dimension");
    }
  }

  /** Show the current code's values (the slider being dragged keeps its own). */
  sync() {
    const state = this.state;
    const latentMap = this.latentMap();
    for (const slider of this.sliders.querySelectorAll("input")) {
      const value =
        slider.dataset.dimension !== undefined
          ? state.code[Number(slider.dataset.dimension)]
          : coordinate(latentMap.projection, state.code, Number(slider.dataset.component));
      if (document.activeElement !== slider) slider.value = String(value);
      slider.nextElementSibling.textContent = formatNumber(value, 2);
    }
  }
}
