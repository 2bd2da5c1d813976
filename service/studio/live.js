// Live decoding into one <img>: codes go to POST /decode (`Accept: image/png`) as fast as the
// server answers, and never queue. While a request is in flight, a newer code replaces the one
// waiting (coalescing): a fast drag leaves at most one request behind the running one, and the
// image always catches up with the latest code. The browser decodes each PNG while the next
// request is already on its way.
//
// Each image shown records its pointer-to-image latency, from the event that asked for its code to
// the decoded image being ready to paint, in `latencies` (the bench reads them); `<body
// data-decoding>` is "busy" while a request is in flight or waiting.

import { encodeCode, modelPath } from "./util.js";

const KEPT_LATENCIES = 2000;

export class LiveDecoder {
  constructor(api, image, onError) {
    this.api = api;
    this.image = image;
    this.onError = onError;
    this.waiting = null; // {model, code, at, generation}: the newest code not yet sent
    this.inFlight = false;
    this.generation = 0; // bumped by reset(): answers for an older model are dropped
    this.objectUrl = null;
    this.latencies = [];
    this.requests = 0;
  }

  /** Decode `code` of `model`; `at` is the performance.now() time of the event that caused it. */
  show(model, code, at = performance.now()) {
    this.waiting = { model, code: Float32Array.from(code), at, generation: this.generation };
    document.body.dataset.decoding = "busy";
    if (!this.inFlight) this.next();
  }

  /** Forget the waiting code and any answer in flight (the model changed). */
  reset() {
    this.generation += 1;
    this.waiting = null;
  }

  async next() {
    const job = this.waiting;
    this.waiting = null;
    if (job === null) {
      document.body.dataset.decoding = "idle";
      return;
    }
    this.inFlight = true;
    this.requests += 1;
    try {
      const body = { z: [Array.from(job.code)] };
      const path = modelPath(job.model, "/decode");
      const blob = await this.api.blob("POST", path, { json: body, accept: "image/png" });
      if (job.generation === this.generation) this.display(blob, job); // decodes meanwhile
    } catch (error) {
      if (job.generation === this.generation) this.onError(error);
    } finally {
      this.inFlight = false;
      this.next();
    }
  }

  async display(blob, job) {
    const previous = this.objectUrl;
    this.objectUrl = URL.createObjectURL(blob);
    this.image.src = this.objectUrl;
    this.image.dataset.z = encodeCode(job.code);
    this.image.dataset.model = job.model;
    if (previous) URL.revokeObjectURL(previous);
    try {
      await this.image.decode();
    } catch {
      return; // replaced by a newer image before this one was decoded: never shown
    }
    this.latencies.push(performance.now() - job.at);
    if (this.latencies.length > KEPT_LATENCIES) this.latencies.shift();
  }
}
