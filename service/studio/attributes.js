// Attribute vectors: one slider per built-in and custom vector, -3 ... +3, added to the current
// code (z + Σ strength · vector) and decoded live; and custom vectors, made from example images
// (files, or points picked on the map) with PUT .../attributes/NAME, and deleted. The API's
// errors are shown as it words them.

import { byTestId, describeError, el, modelPath, showMessage } from "./util.js";

const MAX_PICKS = 100; // per side: the examples travel as thumbnails in one request

export class AttributesPanel {
  /** `reload()`: fetch the model's vectors again (after one is added or deleted). */
  constructor({ api, state, map, reload }) {
    this.api = api;
    this.state = state;
    this.map = map;
    this.reload = reload;
    this.sliders = byTestId("attribute-sliders");
    this.name = byTestId("custom-name");
    this.positive = byTestId("custom-positive");
    this.negative = byTestId("custom-negative");
    this.create = byTestId("custom-create");
    this.status = byTestId("custom-status");
    this.error = byTestId("custom-error");
    this.pickCount = byTestId("pick-count");
    this.picks = [[], []]; // map point indices: positive, negative
    byTestId("custom-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.createVector();
    });
    byTestId("pick-clear").addEventListener("click", () => this.setPicks([[], []]));
    byTestId("attributes-reset").addEventListener("click", () => state.clearStrengths());
    this.sliders.addEventListener("input", (event) => {
      const name = event.target.dataset.attribute;
      if (name !== undefined) state.setStrength(name, Number(event.target.value));
    });
  }

  render(infos) {
    const rows = infos.map((info) => {
      const id = `attribute-${infos.indexOf(info)}`;
      const slider = el("input", {
        id,
        type: "range",
        min: -3,
        max: 3,
        step: 0.1,
        value: 0,
        dataset: { attribute: info.name },
        "aria-describedby": `${id}-value`,
      });
      const remove = info.custom
        ? el("button", {
            type: "button",
            class: "small",
            text: "delete",
            "aria-label": `delete the custom vector ${info.name}`,
            dataset: { testid: "custom-delete", attribute: info.name },
            onclick: () => this.deleteVector(info.name),
          })
        : null;
      return el(
        "div",
        { class: info.custom ? "slider custom" : "slider" },
        el("label", { for: id, text: info.name, title: describe(info) }),
        slider,
        el("output", { id: `${id}-value`, for: id, text: "0" }),
        remove,
      );
    });
    this.sliders.replaceChildren(...rows);
    if (!infos.length) this.sliders.append(el("p", { text: "This model has no vectors." }));
    this.sync();
  }

  /** Show the state's strengths (a slider being dragged keeps its own value). */
  sync() {
    for (const slider of this.sliders.querySelectorAll("input[data-attribute]")) {
      const value = this.state.strengths.get(slider.dataset.attribute) ?? 0;
      if (document.activeElement !== slider) slider.value = String(value);
      slider.nextElementSibling.textContent = Number(slider.value).toFixed(1);
    }
  }

  // ----------------------------------------------------------------------------------- picks

  /** Add map points to the examples of the side chosen (or remove them if all are there). */
  pick(indices) {
    const side = byTestId("pick-negative").checked ? 1 : 0;
    const chosen = new Set(this.picks[side]);
    const adding = indices.some((index) => !chosen.has(index));
    for (const index of indices) {
      if (adding) chosen.add(index);
      else chosen.delete(index);
    }
    const other = new Set(this.picks[1 - side]);
    for (const index of chosen) other.delete(index); // a point is on one side only
    const picks = [[], []];
    picks[side] = [...chosen].slice(0, MAX_PICKS);
    picks[1 - side] = [...other];
    this.setPicks(picks);
    if (chosen.size > MAX_PICKS) {
      showMessage(this.error, `At most ${MAX_PICKS} picked points per side; kept the first.`);
    }
  }

  setPicks(picks) {
    this.picks = picks;
    this.map.setPicks(picks[0], picks[1]);
    const [positive, negative] = picks.map((side) => side.length);
    this.pickCount.textContent = `${positive} positive, ${negative} negative picked on the map`;
    this.pickCount.dataset.positive = String(positive);
    this.pickCount.dataset.negative = String(negative);
  }

  // ---------------------------------------------------------------------------------- create

  async createVector() {
    const { api, map, state } = this;
    const name = this.name.value.trim();
    showMessage(this.error, "");
    showMessage(this.status, "");
    if (!name) {
      showMessage(this.error, "Give the vector a name first.");
      return;
    }
    this.create.disabled = true;
    try {
      const form = new FormData();
      const sides = [
        ["positive", this.positive, this.picks[0]],
        ["negative", this.negative, this.picks[1]],
      ];
      for (const [field, input, picked] of sides) {
        for (const file of input.files) form.append(field, file);
        for (const file of await Promise.all(picked.map((i) => map.thumbnailFile(i)))) {
          form.append(field, file);
        }
      }
      const path = modelPath(state.model, `/attributes/${encodeURIComponent(name)}`);
      const response = await api.request("PUT", path, { form });
      const info = await response.json();
      const verb = response.status === 201 ? "Created" : "Replaced";
      showMessage(
        this.status,
        `${verb} “${name}” from ${info.count_positive} positive and ${info.count_negative} ` +
          "negative examples: its slider is below the others.",
      );
      this.positive.value = "";
      this.negative.value = "";
      this.setPicks([[], []]);
      await this.reload();
    } catch (error) {
      showMessage(this.error, `Could not create “${name}”: ${describeError(error)}`);
    } finally {
      this.create.disabled = false;
    }
  }

  async deleteVector(name) {
    const { api, state } = this;
    showMessage(this.error, "");
    try {
      await api.request(
        "DELETE",
        modelPath(state.model, `/attributes/${encodeURIComponent(name)}`),
      );
      showMessage(this.status, `Deleted “${name}”.`);
      await this.reload();
    } catch (error) {
      showMessage(this.error, `Could not delete “${name}”: ${describeError(error)}`);
    }
  }
}

function describe(info) {
  const origin = info.custom ? "custom" : "built in";
  return (
    `${origin}: mean code of ${info.count_positive} images with it minus that of ` +
    `${info.count_negative} without; length ${info.norm.toFixed(2)}`
  );
}
