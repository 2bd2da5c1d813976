// Upload (file input, drag-and-drop, or paste): encode the image, show it beside its
// reconstruction, mark its code on the map with its nearest held-out neighbours, and for a VAE
// show the posterior's spread (from z_log_var) as numbers and as a 2-sigma ellipse in the map's
// plane. The uploaded code becomes the current code.

import { byTestId, describeError, el, formatNumber, modelPath, showMessage } from "./util.js";

const NEIGHBOURS = 8;

export class UploadPanel {
  /** `latentMap()`: the current model's map, or null; `scoreUpload(file)`: the anomaly panel's. */
  constructor({ api, state, map, latentMap, scoreUpload }) {
    this.api = api;
    this.state = state;
    this.map = map;
    this.latentMap = latentMap;
    this.scoreUpload = scoreUpload;
    this.input = byTestId("upload");
    this.original = byTestId("upload-image");
    this.reconstruction = byTestId("reconstruction-image");
    this.spread = byTestId("posterior-spread");
    this.neighbours = byTestId("neighbours");
    this.error = byTestId("upload-error");
    this.urls = [];
    this.input.addEventListener("change", () => {
      if (this.input.files.length) this.encode(this.input.files[0]);
    });
    for (const zone of [byTestId("upload-drop"), document.getElementById("map-frame")]) {
      zone.addEventListener("dragover", (event) => {
        event.preventDefault();
        zone.classList.add("dropping");
      });
      zone.addEventListener("dragleave", () => zone.classList.remove("dropping"));
      zone.addEventListener("drop", (event) => {
        event.preventDefault();
        zone.classList.remove("dropping");
        const file = imageFile(event.dataTransfer);
        if (file) this.encode(file);
        else showMessage(this.error, "Drop an image file (PNG, JPEG, GIF, WebP or BMP).");
      });
    }
    document.addEventListener("paste", (event) => {
      const file = imageFile(event.clipboardData);
      if (file) this.encode(file);
    });
  }

  reset() {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    this.original.removeAttribute("src");
    this.reconstruction.removeAttribute("src");
    this.spread.textContent = "";
    this.neighbours.replaceChildren();
    this.input.value = "";
    showMessage(this.error, "");
  }

  async encode(file) {
    const { api, state, map } = this;
    const latentMap = this.latentMap();
    const model = state.model;
    this.reset();
    this.original.src = this.objectUrl(file);
    this.scoreUpload(file);
    try {
      const form = new FormData();
      form.append("images", file);
      const codes = await api.json("POST", modelPath(model, "/encode"), { form });
      if (model !== state.model) return;
      const zMean = Float32Array.from(codes.z_mean[0]);
      const sigma = codes.z_log_var ? codes.z_log_var[0].map((v) => Math.exp(0.5 * v)) : null;
      state.setCode(zMean, "upload");
      const [png, projected] = await Promise.all([
        api.blob("POST", modelPath(model, "/decode"), {
          json: { z: [Array.from(zMean)] },
          accept: "image/png",
        }),
        latentMap
          ? api.json("POST", modelPath(model, "/project"), {
              json: { z: [Array.from(zMean)], neighbours: NEIGHBOURS },
            })
          : null,
      ]);
      if (model !== state.model) return;
      this.reconstruction.src = this.objectUrl(png);
      this.spread.textContent = describeSpread(sigma);
      if (projected) this.showOnMap(projected.points[0], sigma, map, latentMap);
    } catch (error) {
      showMessage(
        this.error,
        `Could not encode ${file.name || "the image"}: ${describeError(error)}`,
      );
    }
  }

  showOnMap(point, sigma, map, latentMap) {
    const ellipse = sigma ? posteriorEllipse(point.position, sigma, latentMap.projection) : null;
    map.setMarkers({
      upload: point.position,
      ellipse,
      neighbours: point.neighbours.map((n) => n.index),
    });
    const byClass = latentMap.labels.kind === "class";
    this.neighbours.replaceChildren(
      ...point.neighbours.map((neighbour) => {
        const labels = map.labelText(neighbour.index);
        const distance = `distance ${formatNumber(neighbour.distance, 2)}`;
        return el(
          "li",
          { dataset: { index: neighbour.index }, title: `#${neighbour.index}: ${labels}` },
          map.thumbnailCanvas(neighbour.index, 2),
          el("span", { text: byClass ? `${labels}, ${distance}` : distance }),
        );
      }),
    );
  }

  objectUrl(blob) {
    const url = URL.createObjectURL(blob);
    this.urls.push(url);
    return url;
  }
}

function imageFile(transfer) {
  if (!transfer) return null;
  return [...transfer.files].find((file) => file.type.startsWith("image/")) ?? null;
}

function describeSpread(sigma) {
  if (!sigma) return "An autoencoder encodes an image to one point: there is no spread.";
  const low = Math.min(...sigma);
  const high = Math.max(...sigma);
  const mean = sigma.reduce((a, b) => a + b, 0) / sigma.length;
  return (
    `Posterior q(z|x): σ = exp(z_log_var / 2) from ${formatNumber(low, 3)} to ` +
    `${formatNumber(high, 3)} (mean ${formatNumber(mean, 3)}) over ${sigma.length} dimensions; ` +
    "the ellipse on the map spans ±2σ in its plane."
  );
}

/** The 2-sigma ellipse of N(z_mean, diag(σ²)) projected on the map's plane: the eigenvectors of
 * C diag(σ²) Cᵀ, C the map's first two components. */
function posteriorEllipse(center, sigma, projection) {
  const [c0, c1] = projection.components;
  let a = 0;
  let b = 0;
  let d = 0;
  sigma.forEach((s, i) => {
    const variance = s * s;
    a += c0[i] * c0[i] * variance;
    b += c0[i] * c1[i] * variance;
    d += c1[i] * c1[i] * variance;
  });
  const middle = (a + d) / 2;
  const root = Math.sqrt(((a - d) / 2) ** 2 + b * b);
  const large = middle + root;
  const small = Math.max(middle - root, 0);
  let direction = Math.abs(b) > 1e-12 ? [b, large - a] : a >= d ? [1, 0] : [0, 1];
  const norm = Math.hypot(direction[0], direction[1]);
  direction = [direction[0] / norm, direction[1] / norm];
  const major = 2 * Math.sqrt(large);
  const minor = 2 * Math.sqrt(small);
  return {
    center,
    axes: [
      [direction[0] * major, direction[1] * major],
      [-direction[1] * minor, direction[0] * minor],
    ],
  };
}
