// Submitting a job: pick a template, fill in its submission fields (the items the
// template declares, as GET /api/v1/templates/ lists them) and the job's own fields.

const NUMBER_TYPES = new Set(["integer", "double", "float", "number"]);

function itemInput(ctx, item) {
  const id = `item-${item.name}`;
  const common = { id, name: item.name, "aria-describedby": `${id}-help`, required: item.required || null };
  if (item.type === "boolean") return ctx.h("input", { ...common, type: "checkbox", checked: !!item.default });
  if (item.type === "combo" && Array.isArray(item.options)) {
    return ctx.h("select", common, item.options.map((option) => ctx.h("option", { value: String(option), selected: option === item.default }, String(option))));
  }
  if (NUMBER_TYPES.has(item.type)) {
    return ctx.h("input", { ...common, type: "number", step: item.type === "integer" ? "1" : "any",
      min: item.minimum ?? null, max: item.maximum ?? null, value: item.default ?? "" });
  }
  return ctx.h("input", { ...common, type: "text", value: item.default ?? "",
    placeholder: item.filter ? `path (${item.filter})` : (item.type === "folder" ? "folder path" : "") });
}

function itemValue(item, input) {
  if (item.type === "boolean") return input.checked;
  if (NUMBER_TYPES.has(item.type)) return input.value === "" ? undefined : Number(input.value);
  return input.value;
}

function row(ctx, label, input, help) {
  return ctx.h("div", { class: "form-row" },
    ctx.h("label", { for: input.id }, label), input,
    help ? ctx.h("small", { class: "muted", id: `${input.id}-help` }, help) : null);
}

export default {
  name: "submit",
  title: "Submit",
  route: /^#\/submit(?:\/([A-Za-z0-9_.-]+))?$/,
  nav: true,
  permission: "submit",
  async render(root, ctx, [chosen]) {
    const answer = await ctx.api("templates/");
    const templates = (answer.templates || []).filter((template) => template.key);
    const folders = await ctx.api("jobs/", { query: { where: JSON.stringify(["kind", "=", "folder"]) } }).catch(() => []);
    const template = templates.find((one) => one.key === chosen) || templates.find((one) => one.key === "cmdline") || templates[0];
    if (!template) {
      root.appendChild(ctx.h("p", { class: "notice" }, "No template is installed."));
      return null;
    }
    const picker = ctx.h("select", { id: "submit-template", "aria-label": "template" },
      templates.map((one) => ctx.h("option", { value: one.key, selected: one === template }, `${one.name} (${one.key})`)));
    picker.addEventListener("change", () => ctx.navigate(`#/submit/${picker.value}`));

    const title = ctx.h("input", { id: "submit-title", required: true, maxlength: 255, autocomplete: "off" });
    const frames = ctx.h("input", { id: "submit-frames", value: "1-10", placeholder: "1-100" });
    const batch = ctx.h("input", { id: "submit-batch", type: "number", min: 1, value: 1 });
    const priority = ctx.h("input", { id: "submit-priority", type: "number", min: 0, max: 65535, value: template.default_priority ?? 50 });
    const pools = ctx.h("input", { id: "submit-pools", value: template.default_pools || "", placeholder: "pool names, comma-separated" });
    const folder = ctx.h("select", { id: "submit-folder" }, ctx.h("option", { value: "-1" }, "(top level)"),
      folders.map((one) => ctx.h("option", { value: String(one.id) }, one.title)));
    const paused = ctx.h("input", { id: "submit-paused", type: "checkbox" });
    const command = template.key === "cmdline"
      ? ctx.h("textarea", { id: "submit-command", rows: 3, placeholder: "one argument per line, e.g.\nsh\n-c\necho frame {frame}" })
      : null;

    const items = (template.items || []).filter((item) => item.visible !== false);
    const inputs = new Map(items.map((item) => [item.name, itemInput(ctx, item)]));
    const itemRows = (advanced) => items.filter((item) => !!item.advanced === advanced)
      .map((item) => row(ctx, `${item.label || item.name}${item.required ? " *" : ""}`, inputs.get(item.name), item.description));
    const error = ctx.h("p", { class: "field-error", role: "alert", id: "submit-error" }, "");
    const send = ctx.h("button", { type: "submit", class: "primary" }, "Submit");
    const form = ctx.h("form", { class: "submit-form panel", "aria-label": "submit a job" },
      ctx.h("h1", {}, "Submit a job"),
      row(ctx, "Template", picker, template.description),
      row(ctx, "Name *", title),
      command ? row(ctx, "Command *", command, "{start}, {end} and {frame} are filled in for each chunk") : null,
      row(ctx, "Frames", frames, "e.g. 1-100"), row(ctx, "Frames per chunk", batch), row(ctx, "Priority", priority, "0-65535, higher first"),
      row(ctx, "Pools", pools), row(ctx, "Folder", folder), row(ctx, "Submit paused", paused),
      items.length ? ctx.h("fieldset", {}, ctx.h("legend", {}, `${template.name} fields`), itemRows(false)) : null,
      items.some((item) => item.advanced) ? ctx.h("details", {}, ctx.h("summary", {}, "Advanced"), itemRows(true)) : null,
      send, error);
    root.appendChild(form);
    title.focus();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const data = {};
      for (const item of items) {
        const value = itemValue(item, inputs.get(item.name));
        if (value !== undefined && value !== "") data[item.name] = value;
      }
      const job = {
        title: title.value, template: template.key, frames: frames.value.trim() || "1",
        batch: Number(batch.value) || 1, priority: Number(priority.value),
        pools: pools.value.split(",").map((name) => name.trim()).filter(Boolean),
        parent: Number(folder.value), paused: paused.checked, data,
      };
      if (command) job.command = command.value.split("\n").map((line) => line.trim()).filter(Boolean);
      send.disabled = true;
      try {
        const made = await ctx.api("jobs/", { method: "POST", body: job });
        ctx.toast(`#${made.id} ${made.title} submitted`, "success");
        ctx.navigate(`#/jobs/${made.id}`);
      } catch (failure) {
        error.textContent = failure.field ? `${failure.field}: ${failure.detail}` : failure.detail || failure.message;
        send.disabled = false;
      }
    });
    return null;
  },
};
