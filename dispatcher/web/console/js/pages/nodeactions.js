// The node actions of POST /api/v1/nodes/{node}/actions/{action} (and reset-failures) as
// buttons, each offered only to a user holding its permission; the server checks again.
import { act, askForm, confirmAction, may } from "./farmkit.js";

const SYSTEM_EVENTS = ["shutdown", "reboot", "logoff"];

/**
 * The actions, in the order they are shown. `when(node)` says whether the action makes
 * sense for the node now; `ask(ctx, node)` gathers the body (null: cancelled).
 */
export const NODE_ACTIONS = [
  { action: "pause", label: "Pause", permission: "manage_nodes", compact: true,
    when: (node) => !node.paused },
  { action: "resume", label: "Resume", permission: "manage_nodes", compact: true,
    when: (node) => node.paused },
  { action: "kill", label: "Kill", permission: "manage_nodes", compact: true, danger: true,
    when: (node) => node.running && node.running.length > 0,
    confirm: (node) => `Kill what ${node.name} runs? Its chunks go back to the queue.` },
  { action: "kill-pause", label: "Kill and pause", permission: "manage_nodes", compact: true,
    danger: true, when: (node) => node.online,
    confirm: (node) => `Kill what ${node.name} runs and pause it?` },
  { action: "kill-restart", label: "Kill and restart chunks", permission: "manage_nodes",
    danger: true, when: (node) => node.running && node.running.length > 0,
    confirm: (node) => `Kill ${node.name}'s chunks and start them again there?` },
  { action: "update", label: "Ask for a status report", permission: "manage_nodes",
    when: (node) => node.online },
  { action: "soft-restart", label: "Restart the render client", permission: "manage_nodes",
    when: (node) => node.online,
    confirm: (node) => `Restart the render client of ${node.name}?` },
  { action: "priority", label: "Process priority\u2026", permission: "manage_nodes",
    ask: (ctx, node) => askForm(ctx, `Process priority of ${node.name}`, [
      { name: "priority", label: "Nice value (-20 to 19)", type: "number",
        value: node.process_priority ?? 0 },
    ], "Set").then((values) => values && { priority: Number(values.priority) }) },
  { action: "realtime-log", label: "Live log on/off", permission: "manage_nodes",
    ask: (ctx, node) => askForm(ctx, `Live chunk log of ${node.name}`, [
      { name: "on", label: "Stream the running chunk's log", type: "checkbox",
        value: node.realtime_log },
    ], "Set").then((values) => values && { on: Boolean(values.on) }) },
  { action: "exclude", label: "Exclude a template\u2026", permission: "manage_nodes",
    ask: async (ctx, node) => {
      const status = await ctx.api("/api/v1/status");
      const values = await askForm(ctx, `Template ${node.name} no longer runs`, [
        { name: "template", label: "Template", options: status.templates || [] },
      ], "Exclude");
      return values && { template: values.template };
    } },
  { action: "purge-exclusions", label: "Lift exclusions", permission: "manage_nodes",
    when: (node) => (node.excluded_templates || []).length + (node.excluded_jobs || []).length > 0,
    confirm: (node) => `Let ${node.name} run every excluded template and job again?` },
  { action: "reset-failures", label: "Forget failures", permission: "manage_nodes",
    path: (node) => `/api/v1/nodes/${node.id}/reset-failures`,
    when: (node) => Object.keys(node.failures || {}).length + (node.excluded_jobs || []).length > 0 },
  { action: "notes", label: "Notes\u2026", permission: "manage_nodes",
    ask: (ctx, node) => askForm(ctx, `Notes on ${node.name}`, [
      { name: "notes", label: "Notes", type: "textarea", value: node.notes || "" },
    ], "Save").then((values) => values && { notes: values.notes }) },
  { action: "system-event", label: "System event\u2026", permission: "manage_nodes",
    danger: true, when: (node) => node.online,
    ask: (ctx, node) => askForm(ctx, `Run a system event on ${node.name}`, [
      { name: "event", label: "Event", options: SYSTEM_EVENTS },
    ], "Run").then((values) => values && { event: values.event }) },
  { action: "reset-key", label: "Reset its key", permission: "administer", danger: true,
    confirm: (node) => `Forget ${node.name}'s key? Its next connection gets a new one.` },
  { action: "run-python", label: "Run Python\u2026", permission: "administer", danger: true,
    when: (node) => node.online,
    ask: (ctx, node) => askForm(ctx, `Run Python in ${node.name}'s render client`, [
      { name: "code", label: "Code", type: "textarea", value: "" },
    ], "Run").then((values) => values && { code: values.code }) },
  { action: "remove", label: "Remove", permission: "manage_nodes", danger: true,
    when: (node) => !node.online,
    confirm: (node) => `Forget the registration of ${node.name}?` },
];

/** The actions `ctx`'s user may take (every one, or the compact set for a toolbar). */
export function allowedActions(ctx, compact = false) {
  return NODE_ACTIONS.filter((entry) => may(ctx, entry.permission) && (!compact || entry.compact));
}

/** Run one action on a node; resolves to the node's view after it (null: gone or failed). */
export async function runNodeAction(ctx, entry, node, button) {
  let body;
  if (entry.ask) {
    body = await entry.ask(ctx, node);
    if (!body) return null;
  } else if (entry.confirm && !(await confirmAction(ctx, entry.confirm(node), entry.label))) {
    return null;
  }
  const path = entry.path ? entry.path(node) : `/api/v1/nodes/${node.id}/actions/${entry.action}`;
  const answer = await act(ctx, button, `${entry.label.replace("\u2026", "")} on ${node.name}`,
    () => ctx.api(path, { method: "POST", body }));
  // Node actions answer the node's view after them; reset-failures answers its name only.
  return answer && answer.node && typeof answer.node === "object" ? answer.node : null;
}

/**
 * A bar of buttons for one node's actions: `show(bar, node)` puts the buttons the node
 * offers now into `bar`, rebuilding them only when that set changes (a poll does not
 * replace a button under the pointer); each acts on the node last shown. `onView(view)`
 * gets the node's view after an action (null when the answer has none).
 */
export function nodeActions(ctx, { compact = false } = {}) {
  const { h } = ctx;
  const entries = allowedActions(ctx, compact);
  let current = null;
  let shown = null;
  return {
    show(bar, node, onView) {
      current = node;
      const offered = entries.filter((entry) => !entry.when || entry.when(node));
      const key = offered.map((entry) => entry.action).join(" ");
      if (key === shown && bar.childElementCount) return;
      shown = key;
      bar.replaceChildren(...offered.map((entry) => h("button", {
        type: "button",
        class: entry.danger ? "danger" : null,
        dataset: { action: entry.action },
        onclick: async (event) => {
          const view = await runNodeAction(ctx, entry, current, event.currentTarget);
          onView(view);
        },
      }, entry.label)));
    },
    clear(bar) {
      current = null;
      shown = null;
      bar.replaceChildren();
    },
    close() {
      current = null;
    },
  };
}
