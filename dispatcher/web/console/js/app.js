// The console's shell: the login form, the navigation bar, the hash router and the
// context every page gets (api, events, the user and what they may do, DOM builders).

import { api, ApiError, apiPage, onUnauthorized, setCsrfToken } from "./api.js";
import { closeEvents, onStatus, subscribe } from "./events.js";
import { createTable } from "./table.js";
import { clear, formatDuration, formatTime, h, stateBadge } from "./dom.js";
import pages from "./pages/index.js";

const SESSION_KEY = "corral.session";
const DEFAULT_HASH = "#/jobs";
const TOAST_MS = 6000;

const root = document.getElementById("app");
let session = null; // {user, permissions, csrf_token}
let cleanup = null;
let main = null;
let navLinks = [];
let toasts = null;

function can(permission) {
  if (!session) return false;
  if (!permission) return true;
  const held = session.permissions;
  return held.includes("administer") || held.includes(permission);
}

function toast(message, kind = "info") {
  if (!toasts) return;
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, String(message)),
    h("button", { type: "button", class: "toast-close", "aria-label": "dismiss", onclick: () => item.remove() }, "\u00D7"));
  toasts.appendChild(item);
  setTimeout(() => item.remove(), TOAST_MS);
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

const ctx = {
  api, apiPage, subscribe, h, createTable, stateBadge, formatDuration, formatTime, toast, navigate, can,
  get user() {
    return session ? { name: session.user, permissions: [...session.permissions] } : null;
  },
};

// -- login ------------------------------------------------------------------------
function showLogin(message) {
  leavePage();
  closeEvents();
  session = null;
  setCsrfToken(null);
  sessionStorage.removeItem(SESSION_KEY);
  const error = h("p", { class: "login-error", role: "alert" }, message || "");
  const username = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h("form", { class: "login", "aria-label": "log in" },
    h("h1", {}, "Corral"),
    h("label", { for: "login-user" }, "User"), username,
    h("label", { for: "login-password" }, "Password"), password,
    button, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      const answer = await api("/api/v1/login", {
        method: "POST", body: { username: username.value, password: password.value, cookie: true },
      });
      startSession({ user: answer.user, permissions: answer.permissions, csrf_token: answer.csrf_token });
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.detail || failure.title : String(failure);
      button.disabled = false;
      password.select();
    }
  });
  clear(root).appendChild(h("main", { class: "login-page" }, form));
  username.focus();
}

function startSession(value) {
  session = value;
  setCsrfToken(value.csrf_token);
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  showShell();
}

async function logout() {
  try {
    await api("/api/v1/logout", { method: "POST" });
  } catch {
    // gone already: the login form either way
  }
  showLogin("Logged out.");
}

// -- the shell --------------------------------------------------------------------
function showShell() {
  const links = pages.filter((page) => page.nav && can(page.permission));
  navLinks = links.map((page) => h("a", { href: `#/${page.name}`, dataset: { page: page.name } }, page.title));
  const live = h("span", { class: "live", title: "the live event stream" }, "");
  main = h("main", { id: "page", tabindex: "-1" });
  toasts = h("div", { class: "toasts", "aria-live": "polite" });
  clear(root).append(
    h("header", { class: "topbar" },
      h("a", { class: "brand", href: DEFAULT_HASH }, "Corral"),
      h("nav", { "aria-label": "pages" }, navLinks),
      h("span", { class: "spacer" }),
      live,
      h("span", { class: "who", title: session.permissions.join(", ") || "no permissions" }, session.user),
      h("button", { type: "button", class: "logout", onclick: logout }, "Log out")),
    main, toasts);
  onStatus((up) => {
    live.textContent = up === null ? "" : up ? "\u25CF live" : "\u25CB reconnecting";
    live.classList.toggle("up", up === true);
  });
  route();
}

function leavePage() {
  if (cleanup) {
    try {
      cleanup();
    } catch (error) {
      console.error(error);
    }
  }
  cleanup = null;
}

function route() {
  if (!session) return;
  if (!location.hash || location.hash === "#" || location.hash === "#/") {
    history.replaceState(null, "", DEFAULT_HASH);
  }
  leavePage();
  clear(main);
  const hash = location.hash;
  for (const link of navLinks) {
    const current = hash === `#/${link.dataset.page}` || hash.startsWith(`#/${link.dataset.page}/`);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const page of pages) {
    const found = hash.match(page.route);
    if (!found) continue;
    if (!can(page.permission)) {
      main.appendChild(h("p", { class: "notice" }, `You need the ${page.permission} permission to see this page.`));
      return;
    }
    document.title = `${page.title} - Corral`;
    try {
      const result = page.render(main, ctx, found.slice(1).map((part) => (part === undefined ? part : decodeURIComponent(part))));
      if (result && typeof result.then === "function") {
        const here = hash;
        result.then((done) => {
          if (location.hash === here) cleanup = done || null;
          else if (typeof done === "function") done();
        }, (error) => showError(error));
      } else {
        cleanup = result || null;
      }
    } catch (error) {
      showError(error);
    }
    return;
  }
  main.appendChild(h("p", { class: "notice" }, "No such page. ", h("a", { href: DEFAULT_HASH }, "Back to the jobs")));
}

function showError(error) {
  console.error(error);
  toast(error instanceof ApiError ? `${error.title}: ${error.detail}` : String(error), "error");
}

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason instanceof ApiError && event.reason.status === 401) return;
  showError(event.reason);
});
onUnauthorized(() => {
  if (session) showLogin("Your session ended; log in again.");
});

async function start() {
  const saved = sessionStorage.getItem(SESSION_KEY);
  if (!saved) return showLogin();
  let value;
  try {
    value = JSON.parse(saved);
  } catch {
    return showLogin();
  }
  session = value;
  setCsrfToken(value.csrf_token);
  try {
    // The cookie may have expired or been revoked since: ask once before showing pages.
    await api(`users/${encodeURIComponent(value.user)}`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status === 401) return showLogin();
  }
  showShell();
}

start();
