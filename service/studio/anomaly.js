// Anomaly: an uploaded image's verdict, p-value and per-pixel heatmap, with where its score falls
// on the model's validation distribution; several files or a folder dropped here are scored and
// ranked, most anomalous first. Over POST .../score and GET .../calibration.

import {
  byTestId,
  describeError,
  el,
  formatNumber,
  modelPath,
  pngDataUrl,
  showMessage,
} from "./util.js";

const BATCH = 32; // images per score request when ranking many
const IMAGE = /^image\//;

export class AnomalyPanel {
  /** `api`: the Studio's Api. The panel knows nothing else of the Studio. */
  constructor(api) {
    this.api = api;
    this.model = null; // the model's name
    this.calibration = Promise.resolve(null); // GET .../calibration, or null without one
    this.nodes = {
      panel: byTestId("anomaly-panel"),
      missing: byTestId("anomaly-missing"),
      controls: byTestId("anomaly-controls"),
      score: byTestId("score-select"),
      fpr: byTestId("score-fpr"),
      verdict: byTestId("score-verdict"),
      pvalue: byTestId("score-pvalue"),
      image: byTestId("score-image"),
      heatmap: byTestId("score-heatmap"),
      histogram: byTestId("score-histogram"),
      files: byTestId("score-files"),
      table: byTestId("score-table"),
      status: byTestId("score-status"),
      error: byTestId("score-error"),
    };
    this.lastUpload = null;
    const rescore = () => this.rescore();
    this.nodes.score.addEventListener("change", rescore);
    this.nodes.fpr.addEventListener("change", rescore);
    this.nodes.files.addEventListener("change", () => this.rank([...this.nodes.files.files]));
    const zone = this.nodes.panel;
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dropping");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dropping"));
    zone.addEventListener("drop", async (event) => {
      event.preventDefault();
      zone.classList.remove("dropping");
      this.rank(await droppedImages(event.dataTransfer));
    });
  }

  /** A new model: its calibration (or the command that adds one), the pickers, nothing scored. */
  setModel(name, detail) {
    this.model = name;
    this.calibration = Promise.resolve(null);
    this.lastUpload = null;
    this.clear();
    const info = detail.anomaly;
    this.nodes.controls.hidden = !info;
    this.nodes.missing.hidden = Boolean(info);
    if (!info) {
      this.nodes.missing.textContent =
        `${name} has no anomaly calibration. Add it without retraining: ` +
        `vae-serve calibrate models/${name}, then reload the models.`;
      return;
    }
    this.nodes.score.replaceChildren(
      ...info.scores.map((record) =>
        el("option", { value: record.name, text: describeScore(record, info.default_score) }),
      ),
    );
    this.nodes.score.value = info.default_score;
    this.nodes.fpr.value = String(info.default_fpr);
    this.calibration = this.api.json("GET", modelPath(name, "/calibration"));
    this.calibration.catch((error) => showMessage(this.nodes.error, describeError(error)));
  }

  clear() {
    for (const node of [this.nodes.verdict, this.nodes.pvalue, this.nodes.status]) {
      node.textContent = "";
    }
    delete this.nodes.verdict.dataset.anomalous;
    this.nodes.image.removeAttribute("src");
    this.nodes.heatmap.hidden = true;
    this.nodes.histogram.hidden = true;
    this.nodes.table.replaceChildren();
    showMessage(this.nodes.error, "");
  }

  /** The options every score request sends: the picked score and rate. */
  options() {
    const fpr = Number(this.nodes.fpr.value);
    return { score: this.nodes.score.value, fpr };
  }

  /** Score one uploaded image: verdict, p-value, heatmap over it, place on the histogram. */
  async scoreUpload(file) {
    this.lastUpload = file;
    const model = this.model;
    try {
      const calibration = await this.calibration;
      if (!calibration) return;
      const form = formOf([file], { ...this.options(), map: true, map_values: true });
      const reply = await this.api.json("POST", modelPath(model, "/score"), { form });
      if (model !== this.model) return;
      this.showVerdict(reply, reply.results[0], calibration);
    } catch (error) {
      showMessage(
        this.nodes.error,
        `Could not score ${file.name || "the image"}: ${describeError(error)}`,
      );
    }
  }

  rescore() {
    if (this.lastUpload) this.scoreUpload(this.lastUpload);
  }

  showVerdict(reply, result, calibration) {
    const { verdict, pvalue, image, heatmap } = this.nodes;
    verdict.dataset.anomalous = String(result.anomalous);
    verdict.textContent = result.anomalous
      ? `Anomalous: ${reply.score} ${formatNumber(result.score, 4)} is above the threshold ${formatNumber(reply.threshold, 4)}`
      : `Normal: ${reply.score} ${formatNumber(result.score, 4)} is within the threshold ${formatNumber(reply.threshold, 4)}`;
    pvalue.textContent =
      `p-value ${formatNumber(result.p_value, 4)}: the share of validation images scoring at ` +
      `least as high; flagged at p ≤ ${formatNumber(reply.fpr, 4)} (the false-positive rate).`;
    image.src = pngDataUrl(result.input);
    drawHeatmap(heatmap, result.map_values);
    heatmap.hidden = false;
    const histogram = calibration.scores.find((s) => s.name === reply.score);
    drawHistogram(this.nodes.histogram, histogram, result.score, reply.threshold);
    this.nodes.histogram.hidden = false;
  }

  /** Score many files in batches and list them, most anomalous first. */
  async rank(files) {
    const images = files.filter((file) => IMAGE.test(file.type));
    if (!images.length) {
      showMessage(this.nodes.error, "Choose or drop image files (PNG, JPEG, GIF, WebP or BMP).");
      return;
    }
    const model = this.model;
    showMessage(this.nodes.error, "");
    const rows = [];
    let reply = null;
    try {
      if (!(await this.calibration)) return;
      for (let start = 0; start < images.length; start += BATCH) {
        const batch = images.slice(start, start + BATCH);
        const form = formOf(batch, { ...this.options(), map: true });
        reply = await this.api.json("POST", modelPath(model, "/score"), { form });
        if (model !== this.model) return;
        batch.forEach((file, i) => rows.push({ file, result: reply.results[i] }));
        this.nodes.status.textContent = `scored ${rows.length} of ${images.length}`;
      }
    } catch (error) {
      showMessage(this.nodes.error, `Could not score the files: ${describeError(error)}`);
      return;
    }
    rows.sort((a, b) => b.result.score - a.result.score);
    this.showTable(rows, reply);
  }

  showTable(rows, reply) {
    const flagged = rows.filter((row) => row.result.anomalous).length;
    this.nodes.status.textContent =
      `${flagged} of ${rows.length} anomalous by ${reply.score} at a false-positive rate of ` +
      `${formatNumber(reply.fpr, 4)}, most anomalous first.`;
    const head = el(
      "tr",
      {},
      ...["", "image", "map", reply.score, "p-value", "verdict"].map((text) => el("th", { text })),
    );
    const body = rows.map((row, rank) =>
      el(
        "tr",
        { dataset: { anomalous: String(row.result.anomalous), name: row.file.name } },
        el("td", { text: String(rank + 1) }),
        el(
          "td",
          {},
          el("img", {
            src: pngDataUrl(row.result.input),
            alt: row.file.name,
            title: row.file.name,
          }),
        ),
        el(
          "td",
          {},
          el("img", { src: pngDataUrl(row.result.map), alt: `anomaly map of ${row.file.name}` }),
        ),
        el("td", { text: formatNumber(row.result.score, 4) }),
        el("td", { text: formatNumber(row.result.p_value, 4) }),
        el("td", { text: row.result.anomalous ? "anomalous" : "normal" }),
      ),
    );
    this.nodes.table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
  }
}

function describeScore(record, defaultScore) {
  const mnist =
    record.ood && record.ood.mnist
      ? `, AUROC vs MNIST ${formatNumber(record.ood.mnist.auroc, 3)}`
      : "";
  return `${record.name}${record.name === defaultScore ? " (default)" : ""}${mnist}`;
}

function formOf(files, fields) {
  const form = new FormData();
  for (const file of files) form.append("images", file);
  for (const [key, value] of Object.entries(fields)) form.append(key, JSON.stringify(value));
  return form;
}

/** The image files of a drop: files, and the files inside dropped folders. */
async function droppedImages(transfer) {
  if (!transfer) return [];
  const entries = [...transfer.items].map(
    (item) => item.webkitGetAsEntry && item.webkitGetAsEntry(),
  );
  if (!entries.some((entry) => entry && entry.isDirectory)) return [...transfer.files];
  const files = [];
  for (const entry of entries) if (entry) await collect(entry, files);
  return files;
}

async function collect(entry, files) {
  if (entry.isFile) {
    files.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    return;
  }
  const reader = entry.createReader();
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return;
    for (const child of batch) await collect(child, files);
  }
}

/** The per-pixel map as a translucent colour overlay: transparent where the reconstruction is
 * right, through orange to yellow where it is most wrong (|x - x_hat| near 1). */
function drawHeatmap(canvas, values) {
  const height = values.length;
  const width = values[0].length;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(width, height);
  values.forEach((row, y) =>
    row.forEach((value, x) => {
      const v = Math.min(1, Math.max(0, value * 2)); // errors above 0.5 saturate
      const i = 4 * (y * width + x);
      pixels.data[i] = 255;
      pixels.data[i + 1] = Math.round(255 * v);
      pixels.data[i + 2] = 0;
      pixels.data[i + 3] = Math.round(230 * Math.min(1, 1.5 * v));
    }),
  );
  context.putImageData(pixels, 0, 0);
}

/** The validation scores' histogram, the threshold as a dashed line, the image's score as a
 * marker (pinned to the edge when it lies outside the drawn range). */
function drawHistogram(canvas, calibration, score, threshold) {
  const { edges, counts } = calibration.histogram;
  const width = canvas.width;
  const height = canvas.height;
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, width, height);
  const low = edges[0];
  const high = edges[edges.length - 1];
  const x = (value) => ((Math.min(Math.max(value, low), high) - low) / (high - low)) * width;
  const top = Math.max(...counts);
  context.fillStyle = "#8aa4c8";
  counts.forEach((count, i) => {
    const barHeight = (count / top) * (height - 14);
    context.fillRect(
      x(edges[i]),
      height - barHeight,
      Math.max(1, x(edges[i + 1]) - x(edges[i]) - 1),
      barHeight,
    );
  });
  context.strokeStyle = "#444";
  context.setLineDash([4, 3]);
  context.beginPath();
  context.moveTo(x(threshold), 0);
  context.lineTo(x(threshold), height);
  context.stroke();
  context.setLineDash([]);
  context.fillStyle = score > threshold ? "#c0392b" : "#1e8449";
  context.beginPath();
  context.moveTo(x(score), 12);
  context.lineTo(x(score) - 6, 0);
  context.lineTo(x(score) + 6, 0);
  context.fill();
  canvas.dataset.score = String(score);
  canvas.dataset.inRange = String(score >= low && score <= high);
}
