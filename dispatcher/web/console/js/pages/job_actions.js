// The actions on one job, as buttons: offered only to a user who may manage the job
// (manage_all, or manage_own for their own jobs); the server checks again anyway.

const CONFIRM_MS = 5000;

/** May the logged-in user manage this job? */
export function mayManage(ctx, job) {
  return ctx.can("manage_all") || (ctx.can("manage_own") && job.user === ctx.user.name);
}

function button(ctx, label, action, options = {}) {
  const element = ctx.h("button", { type: "button", class: options.danger ? "danger" : null,
    dataset: { action: options.name || label.toLowerCase() } }, label);
  let armed = 0;
  element.addEventListener("click", async () => {
    if (options.confirm && !armed) {
      element.textContent = options.confirm;
      armed = setTimeout(() => { armed = 0; element.textContent = label; }, CONFIRM_MS);
      return;
    }
    clearTimeout(armed);
    armed = 0;
    element.disabled = true;
    try {
      await action();
    } catch (error) {
      ctx.toast(`${label}: ${error.detail || error.message}`, "error");
    } finally {
      element.disabled = false;
      element.textContent = label;
    }
  });
  return element;
}

function markEdited(event) {
  event.target.dataset.edited = "1";
}

/** Put `controls` in `bar` in place of its old ones, keeping what the user typed or
 * chose there and has not applied yet (live updates redraw the bar at any moment). */
export function replaceActions(bar, controls) {
  const pending = new Map([...bar.querySelectorAll("[data-edited]")].map((input) => [input.dataset.edit, input.value]));
  bar.replaceChildren(...controls);
  for (const input of bar.querySelectorAll("[data-edit]")) {
    const value = pending.get(input.dataset.edit);
    if (value !== undefined && value !== input.value) {
      input.value = value;
      input.dataset.edited = "1";
    }
  }
}

/** The action controls for `job`; onDone(job | null) after a change (null: deleted). */
export function jobActions(ctx, job, { folders = [], onDone = () => {} } = {}) {
  if (!mayManage(ctx, job)) return [ctx.h("span", { class: "muted" }, "(read only)")];
  const path = `jobs/${job.id}`;
  const done = (message) => (answer) => {
    ctx.toast(message, "success");
    onDone(answer ?? null);
  };
  const controls = [];
  if (job.kind !== "folder") {
    if (job.state === "paused" || job.paused) {
      controls.push(button(ctx, "Resume", () => ctx.api(`${path}/actions/resume`, { method: "POST" }).then(done(`#${job.id} resumed`))));
    } else if (job.state !== "done") {
      controls.push(button(ctx, "Pause", () => ctx.api(`${path}/actions/pause`, { method: "POST" }).then(done(`#${job.id} paused`))));
    }
    controls.push(button(ctx, "Reinit", () => ctx.api(`${path}/actions/reinit`, { method: "POST" }).then(done(`#${job.id} queued again from its first chunk`)),
      { confirm: "Reinit every chunk?" }));
    if ((job.chunks?.failed || 0) > 0) {
      controls.push(button(ctx, "Retry failed", () => ctx.api("jobs/actions/reset-failures", { method: "POST", body: { jobs: [job.id] } })
        .then(() => ctx.api(path)).then(done(`#${job.id}: its failed chunks are queued again`)), { name: "retry" }));
    }
    const priority = ctx.h("input", { type: "number", min: 0, max: 65535, value: job.priority, "aria-label": "priority", class: "priority-input",
      dataset: { edit: "priority" }, oninput: markEdited });
    controls.push(ctx.h("span", { class: "inline" }, priority,
      button(ctx, "Set priority", () => ctx.api(path, { method: "PATCH", body: { priority: Number(priority.value) } })
        .then(done(`#${job.id}: priority ${priority.value}`)), { name: "priority" })));
  }
  const where = ctx.h("select", { "aria-label": "folder", class: "folder-select", dataset: { edit: "parent" }, onchange: markEdited },
    ctx.h("option", { value: "-1", selected: job.parent <= 0 }, "(top level)"),
    folders.filter((folder) => folder.id !== job.id).map((folder) => ctx.h("option", { value: String(folder.id), selected: folder.id === job.parent }, folder.title)));
  controls.push(ctx.h("span", { class: "inline" }, where,
    button(ctx, "Move", () => ctx.api(path, { method: "PATCH", body: { parent: Number(where.value) } })
      .then(done(`#${job.id} moved`)), { name: "move" })));
  controls.push(button(ctx, "Delete", () => ctx.api(path, { method: "DELETE" }).then(() => {
    ctx.toast(`#${job.id} deleted`, "success");
    onDone(null);
  }), { danger: true, confirm: "Really delete?" }));
  return controls;
}
