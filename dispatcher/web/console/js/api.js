// The REST API as the console calls it: the session cookie goes with every request,
// and every write carries the session's CSRF token. Errors arrive as problem+json and
// are thrown as ApiError; a 401 sends the console back to its login form.

export class ApiError extends Error {
  constructor(status, title, detail, field) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title || "";
    this.detail = detail || "";
    this.field = field || null;
  }
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
let csrfToken = null;
let unauthorized = () => {};

/** The CSRF token of the session (from the login answer); null when logged out. */
export function setCsrfToken(token) {
  csrfToken = token;
}

/** What to do when the session is gone (a 401): the shell shows its login form. */
export function onUnauthorized(callback) {
  unauthorized = callback;
}

/** A path under /api/v1/ ("jobs/") or absolute ("/api/v1/jobs/"), with a query. */
export function apiUrl(path, query) {
  let url = path.startsWith("/") ? path : `/api/v1/${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value === null || value === undefined || value === "") continue;
      for (const one of Array.isArray(value) ? value : [value]) params.append(name, String(one));
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  return url;
}

async function send(path, { method = "GET", body, query, signal } = {}) {
  const headers = {};
  const init = { method, credentials: "same-origin", headers, signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (!SAFE.has(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(apiUrl(path, query), init);
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = { title: response.statusText };
    }
    const error = new ApiError(response.status, problem.title, problem.detail, problem.field);
    if (response.status === 401 && !path.endsWith("login")) unauthorized(error);
    throw error;
  }
  return response;
}

async function parsed(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** api(path, {method, body, query}) -> the answer's JSON (text for text answers). */
export async function api(path, options = {}) {
  return parsed(await send(path, options));
}

/** One page of a listing: {items, next} where next is the Link rel="next" URL or null. */
export async function apiPage(path, options = {}) {
  const response = await send(path, options);
  const items = await parsed(response);
  return { items, next: nextLink(response.headers.get("Link")) };
}

function nextLink(header) {
  if (!header) return null;
  for (const part of header.split(",")) {
    const found = part.match(/<([^>]*)>\s*;\s*rel="?next"?/);
    if (found) return found[1];
  }
  return null;
}
