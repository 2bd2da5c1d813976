// The Latent Studio: pick a model, see its latent map, decode any point live, upload an image,
// move the code with attribute and dimension sliders, make custom vectors, interpolate and sample; the
// model, the code and the sliders live in the URL. Plain ES modules over the service's /v1 API.

import { AnomalyPanel } from "./anomaly.js";
import { Api } from "./api.js";
import { AttributesPanel } from "./attributes.js";
import { DimensionsPanel } from "./dimensions.js";
import { KeyDialog } from "./key.js";
import { LiveDecoder } from "./live.js";
import { MapView } from "./map.js";
import { ModelPanel } from "./model.js";
import { InterpolatePanel } from "./interpolate.js";
import { SamplingPanel } from "./sampling.js";
import { StudioState } from "./state.js";
import { UploadPanel } from "./upload.js";
import {
  byTestId,
  describeError,
  formatNumber,
  modelPath,
  moveTo,
  place,
  shifted,
  showMessage,
} from "./util.js";

class Studio {
  constructor() {
    this.api = new Api(document.documentElement.dataset.apiKey === "required");
    this.state = new StudioState();
    this.model = null; // GET /v1/models/{model}
    this.latentMap = null; // GET .../map, or null when the bundle has none
    this.vectors = new Map(); // attribute name -> Float32Array
    this.loading = 0;
    this.errorNode = byTestId("studio-error");
    this.decoder = new LiveDecoder(this.api, byTestId("decoded-image"), (e) => this.fail(e));
    this.keyDialog = new KeyDialog(this.api);
    this.map = new MapView(
      {
        canvas: byTestId("map"),
        overlay: document.getElementById("map-overlay"),
        hover: byTestId("hover-thumbnail"),
        legend: byTestId("map-legend"),
        colour: byTestId("colour-select"),
        missing: byTestId("map-missing"),
      },
      {
        preview: (position, at) => this.preview(position, at),
        commit: (position) => this.commit(position),
        leave: () => this.decoder.show(this.state.model, this.displayed()),
        pick: (indices) => this.attributes.pick(indices),
      },
    );
    // Each panel gets what it uses: the API, the state, and callbacks into the Studio.
    const { api, state, map } = this;
    const latentMap = () => this.latentMap;
    this.modelPanel = new ModelPanel((name) => this.loadModel(name).catch((e) => this.fail(e)));
    this.attributes = new AttributesPanel({
      api,
      state,
      map,
      reload: () => this.reloadAttributes(),
    });
    this.dimensions = new DimensionsPanel({ state, latentMap });
    this.anomaly = new AnomalyPanel(api);
    const scoreUpload = (file) => this.anomaly.scoreUpload(file);
    this.upload = new UploadPanel({ api, state, map, latentMap, scoreUpload });
    this.interpolate = new InterpolatePanel({ api, state, displayed: () => this.displayed() });
    this.sampling = new SamplingPanel({ api, state });
    this.state.addEventListener("change", (event) => this.onChange(event.detail.reason));
    byTestId("reset-code").addEventListener("click", () => this.state.setCode(this.defaultCode()));
  }

  async start() {
    this.api.onUnauthorized = (error) => this.keyDialog.ask(error);
    if (this.api.keyRequired && !this.api.key) await this.keyDialog.ask();
    const models = await this.withKey(() => this.api.json("GET", "/v1/models"));
    const wanted = StudioState.fromUrl();
    const name = this.modelPanel.list(models.models, wanted.model);
    if (name === null) throw new Error("No model is available on this server.");
    await this.loadModel(name, wanted);
  }

  /** Run `call`; on a 401, wait for a key that works and run it again. */
  async withKey(call) {
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (error.status !== 401) throw error;
        await this.keyDialog.ask(error);
      }
    }
  }

  /** Switch to `name`; `wanted` (from the URL) may say its code and slider values. */
  async loadModel(name, wanted = {}) {
    const token = ++this.loading;
    this.decoder.reset();
    showMessage(this.errorNode, "");
    const [detail, attributes] = await Promise.all([
      this.api.json("GET", modelPath(name)),
      this.api.json("GET", modelPath(name, "/attributes")),
    ]);
    const [latentMap, sprite] = detail.latent_map ? await this.fetchMap(name) : [null, null];
    if (token !== this.loading) return; // another model was picked meanwhile
    this.model = detail;
    this.latentMap = latentMap;
    this.setVectors(attributes.attributes);
    if (latentMap) this.map.show(latentMap, sprite);
    else this.map.clear(missingMapMessage(name));
    const code = (wanted.code && wanted.code(detail.latent_dim)) || this.defaultCode();
    const strengths = [...(wanted.strengths ?? [])].filter(
      ([key, value]) => this.vectors.has(key) && Math.abs(value) <= 3,
    );
    for (const panel of [
      this.modelPanel,
      this.dimensions,
      this.upload,
      this.interpolate,
      this.sampling,
    ]) {
      panel.reset(detail);
    }
    this.state.setModel(name, code, strengths);
    document.body.dataset.model = name;
    this.anomaly.setModel(name, detail);
  }

  async fetchMap(name) {
    const [data, blob] = await Promise.all([
      this.api.json("GET", modelPath(name, "/map")),
      this.api.blob("GET", modelPath(name, "/map/sprite")),
    ]);
    return [data, await createImageBitmap(blob)];
  }

  /** Built-in and custom vectors (GET .../attributes): sliders and the arithmetic's table. */
  setVectors(infos) {
    this.vectors = new Map(infos.map((info) => [info.name, Float32Array.from(info.vector)]));
    this.attributes.render(infos);
  }

  async reloadAttributes() {
    const body = await this.api.json("GET", modelPath(this.state.model, "/attributes"));
    this.setVectors(body.attributes);
    const gone = [...this.state.strengths.keys()].filter((name) => !this.vectors.has(name));
    if (gone.length) this.state.clearStrengths(gone);
    else this.attributes.sync();
  }

  /** The map's mean code when there is a map, else the prior's mean (0 for a VAE). */
  defaultCode() {
    if (this.latentMap) return Float32Array.from(this.latentMap.code_mean);
    const mean = this.model.latent_prior.mean;
    return mean ? Float32Array.from(mean) : new Float32Array(this.model.latent_dim);
  }

  /** The code decoded: the current code plus Σ strength · vector of the sliders. */
  displayed(code = this.state.code) {
    return shifted(code, this.state.strengths, this.vectors);
  }

  onChange(reason) {
    const shown = this.displayed();
    this.decoder.show(this.state.model, shown);
    if (this.latentMap) this.map.setMarkers({ current: place(this.latentMap.projection, shown) });
    this.attributes.sync();
    this.dimensions.sync(reason);
    const values = Array.from(shown.slice(0, 4), (v) => formatNumber(v, 2)).join(", ");
    const more = shown.length > 4 ? `, … (${shown.length} values)` : "";
    byTestId("current-caption").textContent = `decode([${values}${more}])`;
  }

  /** The code under a map position: the shown code moved within the map's plane to it. */
  codeAt(position) {
    const shown = this.displayed();
    const there = moveTo(this.latentMap.projection, shown, position);
    return { shown: there, base: this.state.code.map((v, i) => v + there[i] - shown[i]) };
  }

  preview(position, at) {
    this.decoder.show(this.state.model, this.codeAt(position).shown, at);
  }

  commit(position) {
    this.state.setCode(this.codeAt(position).base, "map");
  }

  fail(error) {
    showMessage(this.errorNode, describeError(error));
  }
}

function missingMapMessage(name) {
  return (
    `${name} has no latent map: its bundle was made without one. Everything else works; to ` +
    `add the map, run: python -m training map models/${name}`
  );
}

const studio = new Studio();
window.studio = studio; // read by the tests and the benchmark (bench/studio.py)
studio.start().catch((error) => studio.fail(error));
