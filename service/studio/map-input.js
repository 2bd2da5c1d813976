// The latent map's pointer and keyboard: moving previews the code under the pointer, a click
// commits it, a shift-click or shift-drag lasso picks points, and the arrow keys move a cursor
// (Enter or Space commits it, Escape leaves). They act through the MapView's `handlers`.

import { enclosed, span } from "./map-geometry.js";

const LASSO_MIN_PX = 6; // a shift-drag shorter than this is a shift-click
const KEY_STEPS = 40; // arrow keys move the cursor by 1/KEY_STEPS of the view (shift: 8x)
const MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

/** Wire the pointer and the keyboard of `map` (a MapView) to its handlers. */
export function listen(map) {
  const canvas = map.canvas;
  const local = (event) => {
    const box = canvas.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  };
  canvas.addEventListener("pointerdown", (event) => {
    if (!map.data || event.button !== 0 || !event.shiftKey) return;
    map.lasso = [local(event)];
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!map.data) return;
    const [sx, sy] = local(event);
    if (map.lasso) {
      map.lasso.push([sx, sy]);
      map.drawOverlay();
      return;
    }
    map.showHover(map.nearestPoint(sx, sy), sx, sy);
    map.handlers.preview(map.toData(sx, sy), event.timeStamp);
  });
  canvas.addEventListener("pointerup", (event) => {
    if (!map.lasso) return;
    const path = map.lasso;
    map.lasso = null;
    canvas.releasePointerCapture(event.pointerId);
    map.drawOverlay();
    map.handlers.pick(lassoed(map, path));
  });
  canvas.addEventListener("click", (event) => {
    if (!map.data || event.shiftKey) return;
    map.handlers.commit(map.toData(...local(event)));
  });
  canvas.addEventListener("pointerleave", () => {
    if (map.lasso) return;
    map.showHover(-1);
    map.handlers.leave();
  });
  canvas.addEventListener("keydown", (event) => onKey(map, event));
  canvas.addEventListener("blur", () => map.setCursor(null));
}

/** The points a lasso path encloses; a short path is a click, picking the nearest point. */
function lassoed(map, path) {
  if (span(path) < LASSO_MIN_PX) {
    const index = map.nearestPoint(path[0][0], path[0][1]);
    return index < 0 ? [] : [index];
  }
  return enclosed(map.screen, path);
}

function onKey(map, event) {
  if (!map.data) return;
  if (event.key in MOVES) {
    event.preventDefault();
    const { cx, cy, half } = map.view;
    const step = ((2 * half) / KEY_STEPS) * (event.shiftKey ? 8 : 1);
    const [dx, dy] = MOVES[event.key];
    const start = map.cursor ?? map.markers.current ?? [cx, cy];
    map.setCursor([start[0] + dx * step, start[1] + dy * step]);
    map.handlers.preview(map.cursor, event.timeStamp);
  } else if ((event.key === "Enter" || event.key === " ") && map.cursor) {
    event.preventDefault();
    map.handlers.commit(map.cursor);
    map.setCursor(null);
  } else if (event.key === "Escape") {
    map.setCursor(null);
    map.handlers.leave();
  }
}
