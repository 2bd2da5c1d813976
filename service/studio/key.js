// The API key, when the server has one (VAE_SERVE_API_KEY): asked for once, kept for the tab, and
// asked for again, with the reason, whenever the server refuses it.

import { byTestId, describeError, showMessage } from "./util.js";

export class KeyDialog {
  constructor(api) {
    this.api = api;
    this.panel = byTestId("api-key-dialog");
    this.input = byTestId("api-key-input");
    this.error = byTestId("api-key-error");
    this.waiting = null;
    this.resolve = null;
    this.panel.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  /** Show the dialog (with why, after a refusal); resolves once a key works. */
  ask(refusal = null) {
    if (refusal) showMessage(this.error, refused(refusal));
    this.panel.hidden = false;
    this.input.focus();
    this.waiting ??= new Promise((resolve) => {
      this.resolve = resolve;
    });
    return this.waiting;
  }

  async submit() {
    const key = this.input.value.trim();
    if (!key) {
      showMessage(this.error, "Type the key first.");
      return;
    }
    this.api.setKey(key);
    try {
      await this.api.request("GET", "/v1/models");
    } catch (error) {
      showMessage(this.error, error.status === 401 ? refused(error) : describeError(error));
      return;
    }
    showMessage(this.error, "");
    this.panel.hidden = true;
    const resolve = this.resolve;
    this.waiting = null;
    this.resolve = null;
    if (resolve) resolve();
  }
}

function refused(error) {
  return (
    `The server refused this key (${error.status}: ${error.message}). Use the value of ` +
    "VAE_SERVE_API_KEY that the server was started with; ask its operator if you do not know it."
  );
}
