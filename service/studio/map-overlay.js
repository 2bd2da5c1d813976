// The latent map's SVG overlay: the markers of the current code and an upload (pinned to the edge
// when out of view), the posterior's 2-sigma ellipse, neighbours, picked examples, the keyboard
// cursor and the lasso. Positions are in data coordinates; `toScreen` places them.

const SVG = "http://www.w3.org/2000/svg";

/** Redraw `svg` with `markers` ({current, upload, ellipse, neighbours, picks}), the keyboard
 * `cursor` and the `lasso` (screen points); `points` are the map's, `size` its CSS size. */
export function drawOverlay(svg, { points, markers, cursor, lasso, toScreen, size }) {
  svg.replaceChildren();
  const { current, upload, ellipse, neighbours, picks } = markers;
  for (const index of neighbours) svg.append(circle(toScreen(points[index]), 6, "neighbour-ring"));
  picks.forEach((indices, side) => {
    const kind = side === 0 ? "pick-positive" : "pick-negative";
    for (const index of indices) svg.append(circle(toScreen(points[index]), 5, kind));
  });
  if (ellipse) svg.append(ellipsePath(ellipse, toScreen));
  const pin = (position) => pinned(toScreen(position), size);
  if (upload) svg.append(marker("upload-marker", pin(upload), "diamond"));
  if (current) svg.append(marker("current-marker", pin(current), "cross"));
  if (cursor) svg.append(circle(toScreen(cursor), 9, "keyboard-cursor"));
  if (lasso) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", lasso.map((p) => p.join(",")).join(" "));
    line.setAttribute("class", "lasso");
    svg.append(line);
  }
}

/** A marker's place: at its position, or pinned to the nearest edge when it is out of view
 * (then [x, y, true]), so that a code moved far off is still shown, in its direction. */
function pinned([x, y], { width, height }) {
  const margin = 10;
  const px = Math.min(Math.max(x, margin), width - margin);
  const py = Math.min(Math.max(y, margin), height - margin);
  return [px, py, px !== x || py !== y];
}

/** The posterior's 2-sigma ellipse: its centre and two semi-axes in data coordinates. */
function ellipsePath({ center, axes }, toScreen) {
  const steps = 48;
  const points = [];
  for (let i = 0; i <= steps; i += 1) {
    const t = (2 * Math.PI * i) / steps;
    const x = center[0] + Math.cos(t) * axes[0][0] + Math.sin(t) * axes[1][0];
    const y = center[1] + Math.cos(t) * axes[0][1] + Math.sin(t) * axes[1][1];
    points.push(toScreen([x, y]).join(","));
  }
  const path = document.createElementNS(SVG, "polygon");
  path.setAttribute("points", points.join(" "));
  path.setAttribute("class", "posterior-ellipse");
  path.dataset.testid = "posterior-ellipse";
  return path;
}

function circle([x, y], radius, kind) {
  const node = document.createElementNS(SVG, "circle");
  node.setAttribute("cx", x);
  node.setAttribute("cy", y);
  node.setAttribute("r", radius);
  node.setAttribute("class", kind);
  return node;
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
  group.append(halo, path, circle([0, 0], shape === "cross" ? 7 : 0, "ring"));
  return group;
}
