// The HTTP API as the Studio uses it: same origin only, the API key when the server wants one, and
// the service's one error shape, {"error": {"code", "message", "detail"}}, as an ApiError.

const KEY_STORAGE = "vae-serve-api-key";

export class ApiError extends Error {
  constructor(status, code, message, detail = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export class Api {
  /** `keyRequired`: the server set VAE_SERVE_API_KEY (the page says so in <html data-api-key>). */
  constructor(keyRequired) {
    this.keyRequired = keyRequired;
    this.key = sessionStorage.getItem(KEY_STORAGE);
    this.onUnauthorized = () => {};
  }

  /** Keep the key for this tab (session storage: never in the URL, gone with the tab). */
  setKey(key) {
    this.key = key;
    sessionStorage.setItem(KEY_STORAGE, key);
  }

  /** One call; resolves to the Response when it is a 2xx, else throws an ApiError. `json` is sent
   * as JSON, `form` (FormData) as multipart; `accept` asks for e.g. image/png. */
  async request(method, path, { json, form, accept } = {}) {
    const headers = {};
    if (this.key) headers["X-API-Key"] = this.key;
    if (accept) headers.Accept = accept;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    const response = await fetch(path, { method, headers, body });
    if (response.ok) return response;
    const error = await apiError(response);
    if (response.status === 401) this.onUnauthorized(error);
    throw error;
  }

  async json(method, path, options) {
    return (await this.request(method, path, options)).json();
  }

  async blob(method, path, options) {
    return (await this.request(method, path, options)).blob();
  }
}

async function apiError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: e.g. the HTTP server's plain-text 503 when it has too many connections
  }
  const error = body && body.error;
  if (error && typeof error.message === "string") {
    return new ApiError(response.status, error.code, error.message, error.detail);
  }
  const text = `the server answered ${response.status} ${response.statusText}`.trim();
  return new ApiError(response.status, `http_${response.status}`, text);
}
