// Small functions the farm pages (nodes, node, overview, pools, repositories) share.

import { collator } from "../dom.js";

/** Add a stylesheet link to the document once (by its URL). */
export function ensureStylesheet(href) {
  const url = href.startsWith("/") ? href : `/${href}`;
  if (!document.querySelector(`link[data-farm-css="${url}"]`)) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = url;
    link.dataset.farmCss = url;
    document.head.append(link);
  }
}

/** Load the farm pages' own stylesheet (and uPlot's where charts are drawn). */
export function farmStyles() {
  ensureStylesheet("/console/farm.css");
}

/** The console's one collator (dom.js): numbers within names in order (render2 before render10). */
export { collator };

/** Sort items by their `name` with the shared collator (in place; returns them). */
export function byName(items) {
  return items.sort((a, b) => collator.compare(a.name, b.name));
}

/** A list of the farm's (pools, repositories): a table with a header row of `titles`
 * (null ones left out) and an empty body to fill. */
export function listTable(h, label, titles) {
  const body = h("tbody", {});
  const table = h("table", { class: "farm-list", "aria-label": label },
    h("thead", {}, h("tr", {}, ...titles.filter(Boolean).map((title) => h("th", { scope: "col" }, title)))),
    body);
  return { table, body };
}

/** An ApiError (or any error) as one line for a toast. */
export function errorText(error) {
  if (error && typeof error === "object") {
    const parts = [error.title, error.detail].filter(Boolean);
    if (parts.length) return parts.join(": ");
    if (error.message) return error.message;
  }
  return String(error);
}

/** Whether the user holds a permission (administer includes every other, as on the server). */
export function may(ctx, permission) {
  return ctx.can(permission) || ctx.can("administer");
}

/** Bytes as a short text with a binary unit (1.5 GiB). */
export function formatBytes(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 10 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** A node's memory in use as "used / total" and the fraction used (null when unknown). */
export function memoryUse(resources) {
  if (!resources || !resources.memory_total_bytes) return { text: "", fraction: null };
  const total = resources.memory_total_bytes;
  const used = total - (resources.memory_available_bytes ?? total);
  return { text: `${formatBytes(used)} / ${formatBytes(total)}`, fraction: used / total };
}

/** Run `call` (a promise maker) with the button disabled; toast the answer (its `output`
 * when it has one) or the error. */
export async function act(ctx, button, label, call) {
  if (button) button.disabled = true;
  try {
    const answer = await call();
    const output = answer && typeof answer === "object" ? answer.output : null;
    const failed = answer && answer.ok === false;
    ctx.toast(`${label}: ${output || (failed ? "failed" : "done")}`, failed ? "error" : "info");
    return answer;
  } catch (error) {
    ctx.toast(`${label}: ${errorText(error)}`, "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/**
 * A small form in a <dialog>: `fields` [{name, label, value, type, options}], resolves to
 * {name: value} or null when cancelled. Values are set as properties, never as markup.
 */
export function askForm(ctx, title, fields, submitLabel = "OK") {
  const { h } = ctx;
  return new Promise((resolve) => {
    const inputs = {};
    const rows = fields.map((field) => {
      let input;
      if (field.options) {
        input = h("select", { name: field.name },
          ...field.options.map((option) => h("option", { value: option }, option)));
      } else if (field.type === "textarea") {
        input = h("textarea", { name: field.name, rows: "6", cols: "50" });
      } else {
        input = h("input", { name: field.name, type: field.type || "text" });
      }
      if (field.type === "checkbox") input.checked = Boolean(field.value);
      else if (field.value !== undefined && field.value !== null) input.value = String(field.value);
      inputs[field.name] = input;
      return h("label", { class: "farm-form-row" }, h("span", {}, field.label), input);
    });
    const dialog = h("dialog", { class: "farm-dialog" });
    const form = h(
      "form",
      { method: "dialog" },
      h("h3", {}, title),
      ...rows,
      h("div", { class: "farm-dialog-buttons" },
        h("button", { type: "submit", value: "ok", class: "primary" }, submitLabel),
        h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel")),
    );
    dialog.append(form);
    dialog.addEventListener("close", () => {
      const values = {};
      for (const [name, input] of Object.entries(inputs)) {
        values[name] = input.type === "checkbox" ? input.checked : input.value;
      }
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? values : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = Object.values(inputs)[0];
    if (first) first.focus();
  });
}

/** Ask a yes/no question in a <dialog>; resolves true for yes. */
export async function confirmAction(ctx, question, yes = "Yes") {
  const answer = await askForm(ctx, question, [], yes);
  return answer !== null;
}
