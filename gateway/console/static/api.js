// The operator API as the console uses it: JSON calls and live streams, with the key.
//
// The key lives in sessionStorage (this tab only) and goes out as `Authorization: Bearer`.
// Without one the calls go out bare, which the gateway answers from loopback in sandbox
// mode. Live streams are `text/event-stream` read with fetch() (EventSource cannot send a
// header) and parsed here.

const KEY_STORE = "switchboard.operatorKey";

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(detail);
    this.status = status;
    this.path = path;
  }

  get isAuth() {
    return this.status === 401 || this.status === 403;
  }
}

export function operatorKey() {
  return sessionStorage.getItem(KEY_STORE);
}

export function setOperatorKey(key) {
  if (key) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
}

function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  const key = operatorKey();
  if (key) all.Authorization = `Bearer ${key}`;
  return all;
}

function detailOf(body, fallback) {
  const detail = body?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI's validation errors: "field: message" for each.
    return detail.map((d) => `${(d.loc ?? []).slice(1).join(".") || "body"}: ${d.msg}`).join("; ");
  }
  if (detail != null) return JSON.stringify(detail);
  return fallback;
}

// Listeners told about every failed call (the app shows them in #error / asks for the key).
const failureListeners = new Set();
export function onFailure(listener) {
  failureListeners.add(listener);
}
function failed(error) {
  for (const listener of failureListeners) listener(error);
  return error;
}
// Show an error a view caught itself (a 409, a refused action) the way the app shows all.
export function report(error) {
  failed(error instanceof ApiError ? error : new ApiError(-1, String(error?.message ?? error), ""));
}
const successListeners = new Set();
export function onSuccess(listener) {
  successListeners.add(listener);
}
function succeeded() {
  for (const listener of successListeners) listener();
}

// A JSON call. Throws ApiError (status 0 when the gateway could not be reached).
export async function api(path, { method = "GET", body, quiet = false } = {}) {
  const init = { method, headers: headers(), cache: "no-store", credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    const err = new ApiError(0, `the gateway could not be reached (${error.message ?? error})`, path);
    throw quiet ? err : failed(err);
  }
  let parsed = null;
  const text = await response.text();
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const err = new ApiError(response.status, detailOf(parsed, response.statusText || text), path);
    // A 404 or 409 is the caller's business (no conversation, wrong state), not the app's.
    if (quiet || err.status === 404 || err.status === 409 || err.status === 422) throw err;
    throw failed(err);
  }
  succeeded();
  return parsed;
}

// Read a `text/event-stream` with fetch() until `signal` aborts, reconnecting with backoff.
//
// handlers: { onEvent(name, data), onOpen(), onMissing(error) → bool (retry?), onError(error) }
// onMissing is called for a 404 at the start; onError for every other failure (the stream
// then retries, except after an auth failure, which waits for the key to change).
export function stream(path, handlers, signal) {
  let delay = 500;
  const wait = (ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });

  async function once() {
    const response = await fetch(path, {
      headers: headers({ Accept: "text/event-stream" }),
      cache: "no-store",
      credentials: "same-origin",
      signal,
    });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch { body = null; }
      throw new ApiError(response.status, detailOf(body, response.statusText), path);
    }
    handlers.onOpen?.();
    delay = 500;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let event = "message";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        const length = buffer.startsWith("\r\n", newline) ? 2 : 1;
        buffer = buffer.slice(newline + length);
        if (line === "") {
          if (data.length) {
            let parsed;
            const raw = data.join("\n");
            try { parsed = JSON.parse(raw); } catch { parsed = raw; }
            if (event === "error") failed(new ApiError(503, detailOf(parsed, String(raw)), path));
            else succeeded();
            handlers.onEvent(event, parsed);
          }
          event = "message";
          data = [];
        } else if (line.startsWith(":")) {
          // a comment (": ping"): only keeps the connection alive
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value_ = colon < 0 ? "" : line.slice(colon + 1);
          if (value_.startsWith(" ")) value_ = value_.slice(1);
          if (field === "event") event = value_;
          else if (field === "data") data.push(value_);
        }
      }
    }
  }

  (async () => {
    while (!signal.aborted) {
      try {
        await once();
        // The server ends a stream now and then; open the next one at once.
        if (!signal.aborted) await wait(100);
        continue;
      } catch (error) {
        if (signal.aborted) return;
        const err = error instanceof ApiError ? error
          : new ApiError(0, `the live connection dropped (${error.message ?? error})`, path);
        if (err.status === 404 && handlers.onMissing) {
          if (!handlers.onMissing(err)) return;
        } else {
          if (err.isAuth || err.status >= 500 || err.status === 0) failed(err);
          handlers.onError?.(err);
          if (err.isAuth) return; // the app asks for the key and remounts the view
        }
      }
      if (signal.aborted) return;
      await wait(delay);
      delay = Math.min(delay * 2, 5000);
    }
  })();
}

// The WebSocket URL of a path on this gateway.
export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

// A conversation id in a URL path ("conv-+1415…" → "conv-%2B1415…").
export function encodedId(id) {
  return encodeURIComponent(id);
}

// What a person should read for an error.
export function explain(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  if (error.status === 401) {
    return `The gateway answered 401 (${error.message}): enter the gateway's operator key, GATEWAY_API_KEY.`;
  }
  if (error.status === 403) {
    return `The gateway answered 403 (${error.message}). Set GATEWAY_API_KEY on the gateway and enter it here, or open the console from the gateway's own machine in sandbox mode.`;
  }
  if (error.status === 503) {
    return `Temporal is unavailable, so conversations cannot be read or changed right now (${error.message}). The console keeps retrying.`;
  }
  if (error.status === 0) return `${error.message}. Is the gateway running?`;
  if (error.status < 0) return error.message;
  return `${error.message} (HTTP ${error.status})`;
}
