// One node: what it is and runs, its resources, pools, exclusions and failures, its
// template configuration (editable with manage_nodes), the dispatch report, and actions.
import { act, askForm, errorText, farmStyles, formatBytes, may, memoryUse } from "./farmkit.js";
import { nodeActions } from "./nodeactions.js";

const POLL_MS = 5000;

function facts(h, pairs) {
  const list = h("dl", { class: "farm-facts" });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(h("dt", {}, label), h("dd", {}, value));
  }
  return list;
}

function section(h, title, ...children) {
  return h("section", { class: "farm-section", "data-section": title }, h("h3", {}, title), ...children);
}

/** The node's view -> the facts shown about it (label, text or element). */
export function nodeFacts(ctx, node) {
  const { h } = ctx;
  const resources = node.resources || {};
  const memory = memoryUse(node.resources);
  return [
    ["Id", String(node.id)],
    ["UUID", node.uuid],
    ["Host", node.host],
    ["Instance", String(node.instance)],
    ["Platform", node.platform],
    ["Address", node.address],
    ["CPUs", node.cpus === null || node.cpus === undefined ? "" : String(node.cpus)],
    ["CPU use", typeof resources.cpu_percent === "number" ? `${resources.cpu_percent} %` : ""],
    ["Load (1 min)", typeof resources.load_1m === "number" ? String(resources.load_1m) : ""],
    ["Memory", memory.text],
    ["Memory limit", resources.memory_limit_bytes ? formatBytes(resources.memory_limit_bytes) : ""],
    ["Connected since", node.connected_since ? ctx.formatTime(node.connected_since) : ""],
    ["Last seen", node.last_seen ? ctx.formatTime(node.last_seen) : ""],
    ["Process priority", node.process_priority === null ? "" : String(node.process_priority)],
    ["Live chunk log", node.realtime_log ? "on" : "off"],
    ["Software", (node.software || []).map((s) => `${s.software} ${s.version}`).join(", ")],
    ["Tags", (node.tags || []).join(", ")],
    ["Notes", node.notes ? h("span", { class: "farm-notes" }, node.notes) : ""],
  ];
}

/** Where a node's value of a client configuration item comes from (the first that has it:
 * the node's values, a pool's, the render client's own, else the item's default). */
export function valueSource(view, name) {
  if (name in (view.node_values || {})) return "set on this node";
  const pools = Object.entries(view.pool_values || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [pool, values] of pools) if (name in (values || {})) return `from pool ${pool}`;
  if (name in (view.own_values || {})) return "the render client's own";
  return "default";
}

export default {
  name: "node",
  title: "Node",
  route: /^#\/nodes\/(\d+)$/,
  nav: false,
  permission: null,
  render(root, ctx, params) {
    const { h, api } = ctx;
    farmStyles();
    const id = Number(params[0] ?? params.id ?? params);
    const manage = may(ctx, "manage_nodes");
    const actions = nodeActions(ctx); // only the actions the user's permissions allow
    let node = null;
    let stopped = false;
    let timer = null;
    let pending = null;
    let failing = false; // one message when the node cannot be read, not one a poll

    const title = h("h2", {}, `Node ${id}`);
    const badge = h("span", { class: "farm-title-badge" });
    const actionBar = h("div", { class: "farm-actions", "aria-label": "Node actions" });
    const body = h("div", { class: "farm-node" });
    const config = h("div", {});
    const report = h("pre", { class: "farm-report" });
    root.append(
      h("p", {}, h("a", { href: "#/nodes" }, "\u2190 All nodes")),
      h("div", { class: "farm-title" }, title, badge),
      actionBar,
      body,
      section(h, "Template configuration", config),
      section(h, "Dispatch report", report),
    );

    function runningList() {
      if (!node.running.length) return h("p", { class: "farm-muted" }, "Nothing running.");
      return h("ul", {}, ...node.running.map((ref) => h("li", {},
        h("a", { href: `#/jobs/${ref.job}` }, `job ${ref.job}`),
        ` chunk ${ref.chunk}, attempt ${ref.attempt}`)));
    }

    function exclusions() {
      const failures = Object.entries(node.failures || {});
      const items = [
        ...(node.excluded_templates || []).map((key) => `template ${key}`),
        ...(node.excluded_jobs || []).map((job) => `job ${job}`),
      ];
      return h("div", {},
        items.length ? h("ul", {}, ...items.map((item) => h("li", {}, item)))
          : h("p", { class: "farm-muted" }, "No exclusions."),
        failures.length ? h("p", {}, "Failures: ",
          failures.map(([job, count]) => `job ${job}: ${count}`).join(", ")) : null);
    }

    function show() {
      title.textContent = node.name;
      badge.replaceChildren(ctx.stateBadge(node.status));
      actions.show(actionBar, node, (view) => (view ? put(view) : load()));
      const settings = Object.entries(node.engine_settings || {});
      const parts = [
        section(h, "About", facts(h, nodeFacts(ctx, node))),
        section(h, "Running", runningList()),
        section(h, "Pools", node.pools.length
          ? h("ul", {}, ...node.pools.map((pool) => h("li", {}, pool)))
          : h("p", { class: "farm-muted" }, "In no pool.")),
        section(h, "Exclusions and failures", exclusions()),
      ];
      if (settings.length) parts.push(section(h, "Engine settings", facts(h, settings)));
      body.replaceChildren(...parts);
    }

    function put(view) {
      node = view;
      show();
    }

    async function editConfig(template, view, button) {
      const fields = template.items.map((item) => ({
        name: item.name,
        label: `${item.label || item.name}${item.default ? ` (default ${item.default})` : ""}`,
        value: (view.node_values || {})[item.name] ?? "",
      }));
      const values = await askForm(ctx, `${template.key} on ${node.name}`, fields, "Save");
      if (!values) return;
      const kept = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== ""));
      await act(ctx, button, `${template.key} configuration`, () => api(
        `/api/v1/nodes/${node.id}/template-config/${encodeURIComponent(template.key)}`,
        { method: "PUT", body: { values: kept } },
      ));
      loadConfig();
    }

    async function loadConfig() {
      try {
        const listing = await api("/api/v1/templates/");
        const platform = node ? node.platform : "linux";
        const templates = (listing.templates || listing)
          .map((template) => ({ key: template.key, items: (template.client_configuration || {})[platform] || [] }))
          .filter((template) => template.items.length);
        const blocks = [];
        for (const template of templates) {
          const view = await api(`/api/v1/nodes/${id}/template-config/${encodeURIComponent(template.key)}`);
          const rows = template.items.map((item) => [
            item.label || item.name,
            `${view.effective[item.name] ?? item.default ?? ""} (${valueSource(view, item.name)})`,
          ]);
          blocks.push(h("div", { class: "farm-config", "data-template": template.key },
            h("h4", {}, template.key),
            facts(h, rows),
            manage ? h("button", { type: "button", onclick: (e) => editConfig(template, view, e.currentTarget) }, "Edit") : null));
        }
        if (stopped) return;
        config.replaceChildren(...(blocks.length ? blocks
          : [h("p", { class: "farm-muted" }, "No installed template has client configuration items for this platform.")]));
      } catch (error) {
        if (!stopped) config.replaceChildren(h("p", {}, `Could not load: ${errorText(error)}`));
      }
    }

    async function load() {
      clearTimeout(timer);
      try {
        const [view, dispatch] = await Promise.all([
          api(`/api/v1/nodes/${id}`),
          api(`/api/v1/nodes/${id}/dispatch-report`),
        ]);
        if (stopped) return;
        const first = node === null;
        failing = false;
        put(view);
        report.textContent = dispatch.report;
        if (first) loadConfig();
      } catch (error) {
        if (stopped) return;
        if (error && error.status === 404) {
          body.replaceChildren(h("p", {}, `There is no node ${id} (any more).`));
          actions.clear(actionBar);
          return;
        }
        if (!failing) ctx.toast(`node ${id}: ${errorText(error)}`, "error");
        failing = true;
      }
      if (!stopped) timer = setTimeout(load, POLL_MS);
    }

    const unsubscribe = ctx.subscribe({ kinds: ["node", "node_state", "progress", "missed"] }, (events) => {
      const mine = events.some((event) => event.type === "progress" || event.type === "missed"
        || event.node === id || (event.nodes || []).includes(id));
      if (mine && pending === null) {
        pending = setTimeout(() => {
          pending = null;
          load();
        }, 1000); // a busy farm's progress events: one reload a second at most
      }
      if (events.some((event) => event.action === "node_template_config")) loadConfig();
    });
    load();
    return () => {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(pending);
      unsubscribe();
      actions.close();
    };
  },
};
