// The model picker and what the Studio shows about the model: kind, latent size, dataset, test
// metrics, and whether its bundle has a latent map.

import { byTestId, el, formatNumber } from "./util.js";

const KINDS = { vae: "VAE", ae: "autoencoder" };

export class ModelPanel {
  /** `choose(name)`: load the model picked. */
  constructor(choose) {
    this.select = byTestId("model-select");
    this.info = byTestId("model-info");
    this.select.addEventListener("change", () => {
      choose(this.select.value);
    });
  }

  /** Fill the picker (unavailable bundles listed but disabled, with their reason); return the
   * model to open: `wanted` if it serves, else the first that does, else null. */
  list(models, wanted) {
    this.select.replaceChildren(
      ...models.map((model) => {
        const option = new Option(model.name, model.name);
        if (!model.available) {
          option.disabled = true;
          option.textContent = `${model.name} (unavailable: ${model.reason})`;
        }
        return option;
      }),
    );
    const serving = models.filter((model) => model.available).map((model) => model.name);
    const name = serving.includes(wanted) ? wanted : (serving[0] ?? null);
    if (name !== null) this.select.value = name;
    return name;
  }

  reset(detail) {
    this.select.value = detail.name;
    const dataset = detail.dataset;
    const metrics = Object.entries(detail.metrics)
      .filter(([key]) => key.startsWith("test_") && key !== "test_images")
      .map(([key, value]) => el("li", { text: `${key.slice(5)}: ${formatNumber(value, 4)}` }));
    const map = detail.latent_map
      ? `${detail.latent_map.points} ${detail.latent_map.split} images` +
        (detail.latent_map.projection === "pca" ? ", by PCA" : ", on z itself")
      : "none";
    this.info.replaceChildren(
      el(
        "dl",
        {},
        el("dt", { text: "kind" }),
        el("dd", { text: `${KINDS[detail.kind] ?? detail.kind}`, dataset: { field: "kind" } }),
        el("dt", { text: "latent" }),
        el("dd", { text: `${detail.latent_dim} dimensions`, dataset: { field: "latent_dim" } }),
        el("dt", { text: "dataset" }),
        el("dd", {
          text: `${dataset.name} (${dataset.train_size} train, ${dataset.test_size} test)`,
          dataset: { field: "dataset" },
        }),
        el("dt", { text: "map" }),
        el("dd", { text: map, dataset: { field: "map" } }),
      ),
      el("ul", { class: "metrics", "aria-label": "test metrics" }, ...metrics),
    );
  }
}
