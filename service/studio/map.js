// The latent map: the held-out points on a canvas, coloured by class (or by one attribute), with a
// legend; an SVG overlay for the markers (map-overlay.js); and the thumbnail of the point under the
// pointer. The pointer and the keyboard (map-input.js) report map positions to the handlers:
//   preview(position, at)  the pointer moves (or an arrow key moves the cursor)
//   commit(position)       a click, Enter or Space: make the code there the current code
//   leave()                the pointer leaves, or Escape
//   pick(indices)          shift-click on a point, or a shift-drag lasso around points
// Its geometry is map-geometry.js's, its colours map-colours.js's.

import { balancedAttribute, colourChoices, legendItems, pointColours } from "./map-colours.js";
import { fitView, nearestPoint, toData, toScreen } from "./map-geometry.js";
import { listen } from "./map-input.js";
import { drawOverlay } from "./map-overlay.js";

const HOVER_RADIUS = 8; // px: a point this close to the pointer shows its thumbnail
const THUMB_SCALE = 3;
const POINT_RADIUS = 1.7;

export class MapView {
  constructor(elements, handlers) {
    this.canvas = elements.canvas;
    this.overlay = elements.overlay;
    this.hover = elements.hover;
    this.hoverCanvas = elements.hover.querySelector("canvas");
    this.hoverLabel = elements.hover.querySelector("span");
    this.legend = elements.legend;
    this.colour = elements.colour;
    this.missing = elements.missing;
    this.handlers = handlers;
    this.data = null;
    this.sprite = null;
    this.view = null; // {cx, cy, half}: the data square shown
    this.screen = null; // [N, 2] screen positions of the points, CSS px
    this.lasso = null;
    this.cursor = null; // keyboard cursor, data coordinates
    this.markers = { current: null, upload: null, ellipse: null, neighbours: [], picks: [[], []] };
    this.colour.addEventListener("change", () => this.draw());
    listen(this);
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  /** No map for this model: say so (and why) instead of drawing. */
  clear(message) {
    this.data = null;
    this.sprite = null;
    this.canvas.dataset.points = "0";
    this.canvas.dataset.projection = "none";
    this.canvas.setAttribute("aria-label", message);
    this.missing.textContent = message;
    this.missing.hidden = !message;
    this.colour.replaceChildren();
    this.colour.disabled = true;
    this.legend.replaceChildren();
    this.setMarkers({ current: null, upload: null, ellipse: null, neighbours: [] });
    this.draw();
  }

  /** Show a map (the GET .../map body) with its thumbnails (an ImageBitmap, or null). */
  show(data, sprite) {
    this.data = data;
    this.sprite = sprite;
    this.missing.hidden = true;
    this.view = fitView(data.points);
    this.canvas.dataset.points = String(data.count);
    this.canvas.dataset.projection = data.projection.kind;
    const axes = data.projection.kind === "pca" ? "its two leading principal components" : "z";
    this.canvas.setAttribute(
      "aria-label",
      `Latent map: ${data.count} held-out images on ${axes}. Arrow keys move a cursor that ` +
        "decodes the code under it; Enter makes it the current code.",
    );
    this.fillColourChoices(data.labels);
    this.markers.picks = [[], []];
    this.setMarkers({ current: null, upload: null, ellipse: null, neighbours: [] });
    this.draw();
  }

  fillColourChoices(labels) {
    const choices = colourChoices(labels);
    this.colour.replaceChildren(...choices.map(([value, text]) => new Option(text, value)));
    this.colour.disabled = choices.length < 2;
    if (labels.kind === "attribute") this.colour.value = String(balancedAttribute(labels));
  }

  // ------------------------------------------------------------------------------ coordinates

  size() {
    return { width: this.canvas.clientWidth, height: this.canvas.clientHeight };
  }

  toScreen(position) {
    return toScreen(this.view, this.size(), position);
  }

  toData(sx, sy) {
    return toData(this.view, this.size(), [sx, sy]);
  }

  /** Where point `index` is in the window (client coordinates): for tests and the benchmark. */
  clientPoint(index) {
    return this.clientPosition(this.data.points[index]);
  }

  /** The client coordinates of a map position (data coordinates). */
  clientPosition(position) {
    const box = this.canvas.getBoundingClientRect();
    const [x, y] = this.toScreen(position);
    return { x: box.left + x, y: box.top + y };
  }

  nearestPoint(sx, sy, radius = HOVER_RADIUS) {
    return this.screen ? nearestPoint(this.screen, sx, sy, radius) : -1;
  }

  // ---------------------------------------------------------------------------------- drawing

  draw() {
    const { width, height } = this.size();
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(width * ratio));
    this.canvas.height = Math.max(1, Math.round(height * ratio));
    this.overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const context = this.canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    if (!this.data) {
      this.screen = null;
      this.drawOverlay();
      return;
    }
    this.screen = this.data.points.map((point) => this.toScreen(point));
    drawAxes(context, this, width, height);
    const colours = pointColours(this.data, Number(this.colour.value || 0));
    for (const pass of [false, true]) {
      for (let i = 0; i < this.screen.length; i += 1) {
        if (colours.front[i] !== pass) continue;
        context.fillStyle = colours.fill[i];
        context.beginPath();
        context.arc(this.screen[i][0], this.screen[i][1], POINT_RADIUS, 0, 2 * Math.PI);
        context.fill();
      }
    }
    this.drawLegend(colours.legend);
    this.drawOverlay();
  }

  drawLegend(entries) {
    this.legend.replaceChildren(...legendItems(entries));
  }

  // ---------------------------------------------------------------------------------- markers

  /** Replace some markers: current / upload ([x, y] or null), ellipse ({center, axes: [[dx,
   * dy], [dx, dy]]} or null), neighbours (point indices). */
  setMarkers(markers) {
    Object.assign(this.markers, markers);
    this.drawOverlay();
  }

  setPicks(positive, negative) {
    this.markers.picks = [positive, negative];
    this.drawOverlay();
  }

  drawOverlay() {
    if (!this.data) {
      this.overlay.replaceChildren();
      return;
    }
    drawOverlay(this.overlay, {
      points: this.data.points,
      markers: this.markers,
      cursor: this.cursor,
      lasso: this.lasso,
      toScreen: (position) => this.toScreen(position),
      size: this.size(),
    });
  }

  /** Move the keyboard cursor (data coordinates), or hide it (null). */
  setCursor(position) {
    this.cursor = position;
    this.drawOverlay();
  }

  // ------------------------------------------------------------------------------ thumbnails

  /** Draw point `index`'s thumbnail into a 2-d context (scaled, unsmoothed). */
  drawThumbnail(context, index, x, y, scale) {
    const { thumb_width: width, thumb_height: height, columns } = this.data.sprite;
    context.imageSmoothingEnabled = false;
    const sx = (index % columns) * width;
    const sy = Math.floor(index / columns) * height;
    context.drawImage(this.sprite, sx, sy, width, height, x, y, width * scale, height * scale);
  }

  /** A canvas showing point `index`'s thumbnail at `scale`. */
  thumbnailCanvas(index, scale = 2) {
    const canvas = document.createElement("canvas");
    const { thumb_width: width, thumb_height: height } = this.data.sprite;
    canvas.width = width * scale;
    canvas.height = height * scale;
    if (this.sprite) this.drawThumbnail(canvas.getContext("2d"), index, 0, 0, scale);
    return canvas;
  }

  /** Point `index`'s thumbnail as a PNG file (to send as an example image). */
  thumbnailFile(index) {
    const canvas = this.thumbnailCanvas(index, 1);
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => {
        if (blob) resolve(new File([blob], `map-point-${index}.png`, { type: "image/png" }));
        else reject(new Error(`cannot draw the thumbnail of point ${index}`));
      }, "image/png");
    });
  }

  labelText(index) {
    const { names, values } = this.data.labels;
    const text = values[index].map((label) => names[label]).join(", ");
    return text || "no attribute";
  }

  showHover(index, sx, sy) {
    if (index < 0 || !this.sprite) {
      this.hover.hidden = true;
      delete this.hover.dataset.index;
      return;
    }
    const { thumb_width: width, thumb_height: height } = this.data.sprite;
    this.hoverCanvas.width = width * THUMB_SCALE;
    this.hoverCanvas.height = height * THUMB_SCALE;
    this.drawThumbnail(this.hoverCanvas.getContext("2d"), index, 0, 0, THUMB_SCALE);
    this.hoverLabel.textContent = `#${index} ${this.labelText(index)}`;
    this.hover.dataset.index = String(index);
    const { width: mapWidth } = this.size();
    const left = sx + 14 + width * THUMB_SCALE > mapWidth ? sx - 14 - width * THUMB_SCALE : sx + 14;
    this.hover.style.left = `${Math.max(0, left)}px`;
    this.hover.style.top = `${Math.max(0, sy - 14)}px`;
    this.hover.hidden = false;
  }
}

function drawAxes(context, view, width, height) {
  const [ox, oy] = view.toScreen([0, 0]);
  context.strokeStyle = "rgba(120, 130, 145, 0.35)";
  context.lineWidth = 1;
  context.beginPath();
  if (ox >= 0 && ox <= width) {
    context.moveTo(ox, 0);
    context.lineTo(ox, height);
  }
  if (oy >= 0 && oy <= height) {
    context.moveTo(0, oy);
    context.lineTo(width, oy);
  }
  context.stroke();
}
