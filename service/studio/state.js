// The Studio's shareable state: the model, the current code and the attribute strengths. It lives
// in the page's query string (?model=NAME&z=CODE&a=NAME:STRENGTH...), so a link reproduces the
// view: z is the code's float32 values in URL-safe base64 (exact), one `a` per non-zero slider.
// Every change fires a "change" event; the URL follows at most every URL_DELAY_MS.

import { decodeCode, encodeCode } from "./util.js";

const URL_DELAY_MS = 150;

export class StudioState extends EventTarget {
  constructor() {
    super();
    this.model = null;
    this.code = null; // Float32Array: the current code, before the attribute sliders
    this.strengths = new Map(); // attribute name -> strength
    this.urlTimer = null;
  }

  /** What the URL asks for: {model, code(dim) -> Float32Array|null, strengths}. */
  static fromUrl(url = new URL(window.location.href)) {
    const params = url.searchParams;
    const strengths = new Map();
    for (const item of params.getAll("a")) {
      const cut = item.lastIndexOf(":");
      const value = Number(item.slice(cut + 1));
      if (cut > 0 && Number.isFinite(value)) strengths.set(item.slice(0, cut), value);
    }
    const z = params.get("z");
    return {
      model: params.get("model"),
      code: (dim) => (z === null ? null : decodeCode(z, dim)),
      strengths,
    };
  }

  setModel(model, code, strengths) {
    this.model = model;
    this.code = Float32Array.from(code);
    this.strengths = new Map(strengths);
    this.changed("model");
  }

  setCode(code, reason = "code") {
    this.code = Float32Array.from(code);
    this.changed(reason);
  }

  setStrength(name, value) {
    if (value === 0) this.strengths.delete(name);
    else this.strengths.set(name, value);
    this.changed("strength");
  }

  clearStrengths(names = [...this.strengths.keys()]) {
    for (const name of names) this.strengths.delete(name);
    this.changed("strength");
  }

  changed(reason) {
    this.dispatchEvent(new CustomEvent("change", { detail: { reason } }));
    clearTimeout(this.urlTimer);
    this.urlTimer = setTimeout(() => this.writeUrl(), URL_DELAY_MS);
  }

  /** The query string for the current state (replaces the history entry: no back-button spam). */
  writeUrl() {
    const params = new URLSearchParams();
    if (this.model !== null) params.set("model", this.model);
    if (this.code !== null) params.set("z", encodeCode(this.code));
    for (const [name, value] of this.strengths) params.append("a", `${name}:${value}`);
    const url = `${window.location.pathname}?${params}`;
    if (url !== `${window.location.pathname}${window.location.search}`) {
      window.history.replaceState(null, "", url);
    }
  }
}
