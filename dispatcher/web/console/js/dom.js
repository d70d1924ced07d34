// Small DOM functions. Text always goes in through text nodes (textContent), never
// through innerHTML: job names, logs and every other value from the farm are data.

/** The console's one collator: names compared as people read them, numbers within them
 * in order (render2 before render10). Made once: a collator per comparison is slow. */
export const collator = new Intl.Collator(undefined, { numeric: true });

/** h("div", {class: "x", onclick: fn}, "text", child, [more]) -> an element. */
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (name === "style") Object.assign(element.style, value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked" || name === "selected") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

/** Seconds as "2h 05m", "3m 07s" or "12s"; "" for null. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${String(hours % 24).padStart(2, "0")}h`;
}

/** An ISO time or epoch seconds as local "YYYY-MM-DD HH:MM:SS"; "" for none. */
export function formatTime(value) {
  if (value === null || value === undefined || value === "") return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const two = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

// Each state has an icon AND its name: colour is never the only sign (colour-blind safe).
export const STATE_ICONS = {
  queued: "\u25CB", // white circle
  running: "\u25B6", // play
  done: "\u2714", // check mark
  failed: "\u2716", // heavy x
  skipped: "\u21B7", // arrow over
  paused: "\u275A\u275A", // bars
  held: "\u29D6", // hourglass
  folder: "\u25A4", // square with lines
  online: "\u25CF",
  offline: "\u25CC",
  busy: "\u25B6",
  idle: "\u25CB",
  disabled: "\u2298",
};

/** A state as a badge: icon and text, coloured by a class `state-<name>`. */
export function stateBadge(state) {
  const name = String(state ?? "");
  const known = Object.hasOwn(STATE_ICONS, name) ? name : "other";
  return h("span", { class: `badge state-${known}`, title: name },
    h("span", { class: "icon", "aria-hidden": "true" }, STATE_ICONS[name] || "\u2022"), " ", name);
}

/** Remove every child of an element. */
export function clear(element) {
  element.replaceChildren();
  return element;
}
