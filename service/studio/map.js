// The latent map: the held-out points on a canvas, coloured by class (or by one attribute), with a
// legend; an SVG overlay for the markers (the current code, an upload and its posterior spread,
// its neighbours, picked examples, the lasso, the keyboard cursor); and the thumbnail of the point
// under the pointer. The pointer and the keyboard report map positions to the handlers:
//   preview(position, at)  the pointer moves (or an arrow key moves the cursor)
//   commit(position)       a click, Enter or Space: make the code there the current code
//   leave()                the pointer leaves, or Escape
//   pick(indices)          shift-click on a point, or a shift-drag lasso around points

const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];
const HAS = "#d1495b";
const HAS_NOT = "#7d8ea3";
const HOVER_RADIUS = 8; // px: a point this close to the pointer shows its thumbnail
const THUMB_SCALE = 3;
const POINT_RADIUS = 1.7;
const LASSO_MIN_PX = 6; // a shift-drag shorter than this is a shift-click
const KEY_STEPS = 40; // arrow keys move the cursor by 1/KEY_STEPS of the view (shift: 8x)
const SVG = "http://www.w3.org/2000/svg";

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
    this.listen();
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
    const choices = {
      class: () => [["class", "class"]],
      attribute: () => labels.names.map((name, i) => [String(i), name]),
      none: () => [["", "no labels"]],
    }[labels.kind]();
    this.colour.replaceChildren(...choices.map(([value, text]) => new Option(text, value)));
    this.colour.disabled = choices.length < 2;
    if (labels.kind === "attribute") this.colour.value = String(balancedAttribute(labels));
  }

  // ------------------------------------------------------------------------------ coordinates

  size() {
    return { width: this.canvas.clientWidth, height: this.canvas.clientHeight };
  }

  toScreen([x, y]) {
    const { width, height } = this.size();
    const side = Math.min(width, height);
    const { cx, cy, half } = this.view;
    return [
      width / 2 + ((x - cx) / half) * (side / 2),
      height / 2 - ((y - cy) / half) * (side / 2),
    ];
  }

  toData(sx, sy) {
    const { width, height } = this.size();
    const side = Math.min(width, height);
    const { cx, cy, half } = this.view;
    return [
      cx + ((sx - width / 2) / (side / 2)) * half,
      cy - ((sy - height / 2) / (side / 2)) * half,
    ];
  }

  /** Where point `index` is in the window (client coordinates): for tests and the benchmark. */
  clientPoint(index) {
    const box = this.canvas.getBoundingClientRect();
    const [x, y] = this.toScreen(this.data.points[index]);
    return { x: box.left + x, y: box.top + y };
  }

  /** The client coordinates of a map position (data coordinates). */
  clientPosition(position) {
    const box = this.canvas.getBoundingClientRect();
    const [x, y] = this.toScreen(position);
    return { x: box.left + x, y: box.top + y };
  }

  nearestPoint(sx, sy, radius = HOVER_RADIUS) {
    if (!this.screen) return -1;
    let best = -1;
    let bestDistance = radius * radius;
    for (let i = 0; i < this.screen.length; i += 1) {
      const dx = this.screen[i][0] - sx;
      const dy = this.screen[i][1] - sy;
      const distance = dx * dx + dy * dy;
      if (distance <= bestDistance) {
        best = i;
        bestDistance = distance;
      }
    }
    return best;
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
    const colours = this.pointColours();
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

  /** Each point's colour, which are drawn last (on top), and the legend's entries. */
  pointColours() {
    const { labels, count } = this.data;
    const fill = new Array(count);
    const front = new Array(count).fill(false);
    if (labels.kind === "class") {
      const counts = labels.names.map(() => 0);
      labels.values.forEach((value, i) => {
        const label = value[0] ?? -1;
        fill[i] = label < 0 ? HAS_NOT : PALETTE[label % PALETTE.length];
        if (label >= 0) counts[label] += 1;
      });
      const legend = labels.names.map((name, i) => [PALETTE[i % PALETTE.length], name, counts[i]]);
      return { fill, front, legend };
    }
    if (labels.kind === "none") {
      return { fill: fill.fill(HAS), front, legend: [[HAS, "unlabeled", count]] };
    }
    const chosen = Number(this.colour.value || 0);
    let has = 0;
    labels.values.forEach((value, i) => {
      front[i] = value.includes(chosen);
      fill[i] = front[i] ? HAS : HAS_NOT;
      has += front[i] ? 1 : 0;
    });
    const name = labels.names[chosen];
    const legend = [
      [HAS, name, has],
      [HAS_NOT, `not ${name}`, count - has],
    ];
    return { fill, front, legend };
  }

  drawLegend(entries) {
    this.legend.replaceChildren(
      ...entries.map(([colour, name, count]) => {
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.backgroundColor = colour;
        const item = document.createElement("li");
        item.append(swatch, `${name} (${count})`);
        return item;
      }),
    );
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
    const svg = this.overlay;
    svg.replaceChildren();
    if (!this.data) return;
    const { current, upload, ellipse, neighbours, picks } = this.markers;
    for (const index of neighbours) {
      svg.append(svgCircle(this.toScreen(this.data.points[index]), 6, "neighbour-ring"));
    }
    picks.forEach((indices, side) => {
      for (const index of indices) {
        const kind = side === 0 ? "pick-positive" : "pick-negative";
        svg.append(svgCircle(this.toScreen(this.data.points[index]), 5, kind));
      }
    });
    if (ellipse) svg.append(this.ellipsePath(ellipse));
    if (upload) svg.append(marker("upload-marker", this.pinned(upload), "diamond"));
    if (current) svg.append(marker("current-marker", this.pinned(current), "cross"));
    if (this.cursor) svg.append(svgCircle(this.toScreen(this.cursor), 9, "keyboard-cursor"));
    if (this.lasso) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", this.lasso.map((p) => p.join(",")).join(" "));
      line.setAttribute("class", "lasso");
      svg.append(line);
    }
  }

  /** A marker's place: at its position, or pinned to the nearest edge when it is out of view
   * (then [x, y, true]), so that a code moved far off is still shown, in its direction. */
  pinned(position) {
    const { width, height } = this.size();
    const [x, y] = this.toScreen(position);
    const margin = 10;
    const px = Math.min(Math.max(x, margin), width - margin);
    const py = Math.min(Math.max(y, margin), height - margin);
    return [px, py, px !== x || py !== y];
  }

  /** The posterior's 2-sigma ellipse: its centre and two semi-axes in data coordinates. */
  ellipsePath({ center, axes }) {
    const steps = 48;
    const points = [];
    for (let i = 0; i <= steps; i += 1) {
      const t = (2 * Math.PI * i) / steps;
      const x = center[0] + Math.cos(t) * axes[0][0] + Math.sin(t) * axes[1][0];
      const y = center[1] + Math.cos(t) * axes[0][1] + Math.sin(t) * axes[1][1];
      points.push(this.toScreen([x, y]).join(","));
    }
    const path = document.createElementNS(SVG, "polygon");
    path.setAttribute("points", points.join(" "));
    path.setAttribute("class", "posterior-ellipse");
    path.dataset.testid = "posterior-ellipse";
    return path;
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

  // ------------------------------------------------------------------------ pointer, keyboard

  listen() {
    const canvas = this.canvas;
    const local = (event) => {
      const box = canvas.getBoundingClientRect();
      return [event.clientX - box.left, event.clientY - box.top];
    };
    canvas.addEventListener("pointerdown", (event) => {
      if (!this.data || event.button !== 0) return;
      if (event.shiftKey) {
        this.lasso = [local(event)];
        canvas.setPointerCapture(event.pointerId);
      }
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!this.data) return;
      const [sx, sy] = local(event);
      if (this.lasso) {
        this.lasso.push([sx, sy]);
        this.drawOverlay();
        return;
      }
      this.showHover(this.nearestPoint(sx, sy), sx, sy);
      this.handlers.preview(this.toData(sx, sy), event.timeStamp);
    });
    canvas.addEventListener("pointerup", (event) => {
      if (!this.lasso) return;
      const path = this.lasso;
      this.lasso = null;
      canvas.releasePointerCapture(event.pointerId);
      this.drawOverlay();
      this.handlers.pick(this.lassoed(path));
    });
    canvas.addEventListener("click", (event) => {
      if (!this.data || event.shiftKey) return;
      const [sx, sy] = local(event);
      this.handlers.commit(this.toData(sx, sy));
    });
    canvas.addEventListener("pointerleave", () => {
      if (this.lasso) return;
      this.showHover(-1);
      this.handlers.leave();
    });
    canvas.addEventListener("keydown", (event) => this.onKey(event));
    canvas.addEventListener("blur", () => {
      this.cursor = null;
      this.drawOverlay();
    });
  }

  /** The points a lasso path encloses; a short path is a click, picking the nearest point. */
  lassoed(path) {
    const xs = path.map((p) => p[0]);
    const ys = path.map((p) => p[1]);
    const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
    if (span < LASSO_MIN_PX) {
      const index = this.nearestPoint(path[0][0], path[0][1]);
      return index < 0 ? [] : [index];
    }
    return this.screen.flatMap((point, i) => (insidePolygon(point, path) ? [i] : []));
  }

  onKey(event) {
    if (!this.data) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    if (event.key in moves) {
      event.preventDefault();
      const step = ((2 * this.view.half) / KEY_STEPS) * (event.shiftKey ? 8 : 1);
      const [dx, dy] = moves[event.key];
      const start = this.cursor ?? this.markers.current ?? [this.view.cx, this.view.cy];
      this.cursor = [start[0] + dx * step, start[1] + dy * step];
      this.drawOverlay();
      this.handlers.preview(this.cursor, event.timeStamp);
    } else if ((event.key === "Enter" || event.key === " ") && this.cursor) {
      event.preventDefault();
      this.handlers.commit(this.cursor);
      this.cursor = null;
      this.drawOverlay();
    } else if (event.key === "Escape") {
      this.cursor = null;
      this.drawOverlay();
      this.handlers.leave();
    }
  }
}

/** The square of data space to show: the middle 99% of the points, padded, equal scales. */
function fitView(points) {
  const axis = (k) => {
    const values = points.map((p) => p[k]).sort((a, b) => a - b);
    const low = values[Math.floor(0.005 * (values.length - 1))];
    const high = values[Math.ceil(0.995 * (values.length - 1))];
    return [low, high];
  };
  const [x0, x1] = axis(0);
  const [y0, y1] = axis(1);
  const half = Math.max(x1 - x0, y1 - y0, 1e-6) * 0.55;
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, half };
}

/** The attribute closest to half the points: the most telling default colouring. */
function balancedAttribute(labels) {
  const counts = labels.names.map(() => 0);
  for (const value of labels.values) for (const label of value) counts[label] += 1;
  const half = labels.values.length / 2;
  let best = 0;
  counts.forEach((count, i) => {
    if (Math.abs(count - half) < Math.abs(counts[best] - half)) best = i;
  });
  return best;
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

function svgCircle([x, y], radius, kind) {
  const circle = document.createElementNS(SVG, "circle");
  circle.setAttribute("cx", x);
  circle.setAttribute("cy", y);
  circle.setAttribute("r", radius);
  circle.setAttribute("class", kind);
  return circle;
}

function marker(testid, [x, y, outside], shape) {
  const group = document.createElementNS(SVG, "g");
  group.setAttribute("class", outside ? `${testid} outside` : testid);
  group.dataset.outside = String(Boolean(outside));
  group.setAttribute("transform", `translate(${x} ${y})`);
  group.dataset.testid = testid;
  const d = shape === "cross" ? "M-11 0H11M0 -11V11" : "M0 -8L8 0L0 8L-8 0Z";
  const halo = document.createElementNS(SVG, "path");
  halo.setAttribute("d", d);
  halo.setAttribute("class", "halo");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  group.append(halo, path, svgCircle([0, 0], shape === "cross" ? 7 : 0, "ring"));
  return group;
}

function insidePolygon([x, y], polygon) {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i, i += 1) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
