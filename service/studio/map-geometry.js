// The latent map's geometry: the square of data space shown, data <-> screen coordinates (CSS
// px, y up in data and down on screen), the point nearest the pointer, and what a lasso encloses.

/** The square of data space to show: the middle 99% of the points, padded, equal scales. */
export function fitView(points) {
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

/** A data position's screen position in a `width` x `height` map showing `view`. */
export function toScreen({ cx, cy, half }, { width, height }, [x, y]) {
  const side = Math.min(width, height);
  return [width / 2 + ((x - cx) / half) * (side / 2), height / 2 - ((y - cy) / half) * (side / 2)];
}

/** The data position at a screen position: the inverse of `toScreen`. */
export function toData({ cx, cy, half }, { width, height }, [sx, sy]) {
  const side = Math.min(width, height);
  return [
    cx + ((sx - width / 2) / (side / 2)) * half,
    cy - ((sy - height / 2) / (side / 2)) * half,
  ];
}

/** The index of the screen point nearest (sx, sy) within `radius`, or -1. */
export function nearestPoint(screen, sx, sy, radius) {
  let best = -1;
  let bestDistance = radius * radius;
  for (let i = 0; i < screen.length; i += 1) {
    const dx = screen[i][0] - sx;
    const dy = screen[i][1] - sy;
    const distance = dx * dx + dy * dy;
    if (distance <= bestDistance) {
      best = i;
      bestDistance = distance;
    }
  }
  return best;
}

/** The indices of the screen points inside a closed `path` (even-odd rule). */
export function enclosed(screen, path) {
  return screen.flatMap((point, i) => (insidePolygon(point, path) ? [i] : []));
}

/** The largest side of a path's bounding box: how far a drag went. */
export function span(path) {
  const xs = path.map((p) => p[0]);
  const ys = path.map((p) => p[1]);
  return Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
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
