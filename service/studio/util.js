// Small helpers shared by the Studio's modules: DOM building, codes as text, the map's projection.

/** An element with attributes (`text`, `dataset` and `on*` handled) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function byTestId(id) {
  const node = document.querySelector(`[data-testid="${id}"]`);
  if (node === null) throw new Error(`the page has no element data-testid="${id}"`);
  return node;
}

/** A code as URL-safe base64 of its little-endian float32 values: exact, and short. */
export function encodeCode(code) {
  const bytes = new Uint8Array(Float32Array.from(code).buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The inverse of encodeCode; null unless the text holds exactly `dim` finite values. */
export function decodeCode(text, dim) {
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    if (binary.length !== 4 * dim) return null;
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const code = new Float32Array(bytes.buffer);
    return code.every(Number.isFinite) ? code : null;
  } catch {
    return null;
  }
}

export function dot(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += a[i] * b[i];
  return sum;
}

/** z + Σ strength · vector: the bundle's attribute arithmetic, as the /edit endpoint does it. */
export function shifted(code, strengths, vectors) {
  const result = Float32Array.from(code);
  for (const [name, strength] of strengths) {
    const vector = vectors.get(name);
    if (!vector || strength === 0) continue;
    for (let i = 0; i < result.length; i += 1) result[i] += strength * vector[i];
  }
  return result;
}

/** The coordinate of a code along component k of the projection: (z - mean) · components[k]. */
export function coordinate(projection, code, k) {
  const { mean, components } = projection;
  let sum = 0;
  for (let i = 0; i < code.length; i += 1) sum += (code[i] - mean[i]) * components[k][i];
  return sum;
}

/** A code's position on the map: (z - mean) @ components[:2]^T. */
export function place(projection, code) {
  return [coordinate(projection, code, 0), coordinate(projection, code, 1)];
}

/** `code` moved along component k (the components are orthonormal) so its coordinate is `value`. */
export function along(projection, code, k, value) {
  const delta = value - coordinate(projection, code, k);
  const row = projection.components[k];
  return Float32Array.from(code, (v, i) => v + delta * row[i]);
}

/** `code` moved within the map's plane so that it lands on `position`; its other coordinates
 * stay. For a 2-d model the code is the position itself. */
export function moveTo(projection, code, position) {
  return along(projection, along(projection, code, 0, position[0]), 1, position[1]);
}

export function formatNumber(value, digits = 3) {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
  return value.toFixed(digits).replace(/\.?0+$/, "") || "0";
}

export function modelPath(model, rest = "") {
  return `/v1/models/${encodeURIComponent(model)}${rest}`;
}

export function pngDataUrl(base64) {
  return `data:image/png;base64,${base64}`;
}

export function describeError(error) {
  if (error instanceof TypeError) return "The server cannot be reached; is it running?";
  return error && error.message ? error.message : String(error);
}

/** Show `message` in an alert element, or hide it when message is empty. */
export function showMessage(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}
