// The v2 API as the browser calls it: the identity picked at log-in goes with every request.

const KEY = "ostia.dashboard.auth";

export const auth = {
  load() {
    try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
  },
  save(value) { sessionStorage.setItem(KEY, JSON.stringify(value)); },
  clear() { sessionStorage.removeItem(KEY); },
};

// An API error: `message` is Octavia's faultstring (or the other error bodies' message).
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function headers() {
  const who = auth.load();
  const out = { Accept: "application/json" };
  if (who?.mode === "keystone") out["X-Auth-Token"] = who.token;
  else if (who?.project) out["X-Project-Id"] = who.project;
  return out;
}

function faultMessage(status, body) {
  if (body && typeof body === "object") {
    if (body.faultstring) return body.faultstring;
    if (body.error?.message) return body.error.message;
    if (body.message) return body.message;
    if (body.detail) return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  }
  return `HTTP ${status}`;
}

export async function call(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  if (!resp.ok) throw new ApiError(resp.status, faultMessage(resp.status, parsed), parsed);
  return parsed;
}

export const get = (path) => call("GET", path);

// In noauth mode every caller is an admin who sees all projects: lists are narrowed to the picked one.
export function scoped(path) {
  const who = auth.load();
  if (who?.mode !== "noauth" || !who.project) return path;
  return path + (path.includes("?") ? "&" : "?") + "project_id=" + encodeURIComponent(who.project);
}

export async function config() {
  const resp = await fetch("config", { headers: { Accept: "application/json" } });
  return resp.json();
}
