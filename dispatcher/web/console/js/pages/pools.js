// Pools: the pools render clients announce and those an administrator added; adding,
// editing (description, members), renaming and removing need the administer permission,
// setting a pool's template configuration (its nodes' client configuration) manage_nodes.
import { act, askForm, confirmAction, errorText, farmStyles, may } from "./farmkit.js";

const REFRESH_AFTER_MS = 250;

/** "a, b\nc" -> ["a", "b", "c"]: node names typed in a form, blanks dropped. */
export function splitNames(text) {
  return String(text)
    .split(/[\n,]/)
    .map((name) => name.trim())
    .filter(Boolean);
}

export default {
  name: "pools",
  title: "Pools",
  route: /^#\/pools$/,
  nav: true,
  permission: null,
  render(root, ctx) {
    const { h, api } = ctx;
    farmStyles();
    const admin = may(ctx, "administer");
    const configure = may(ctx, "manage_nodes"); // a pool's template configuration
    let stopped = false;
    let timer = null;

    const body = h("tbody", {});
    const table = h(
      "table",
      { class: "farm-list", "aria-label": "Pools" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Pool"),
        h("th", { scope: "col" }, "Description"),
        h("th", { scope: "col" }, "Nodes"),
        h("th", { scope: "col" }, "Id"),
        admin || configure ? h("th", { scope: "col" }, "Actions") : null)),
      body,
    );
    const count = h("p", { class: "farm-note" });
    const toolbar = h("div", { class: "farm-toolbar" });
    if (admin) {
      toolbar.append(h("button", { type: "button", class: "primary", onclick: (e) => addPool(e.target) }, "Add pool"));
    }
    root.append(h("h2", {}, "Pools"), toolbar, count, table);

    async function addPool(button) {
      const values = await askForm(ctx, "Add a pool", [
        { name: "name", label: "Name" },
        { name: "description", label: "Description" },
        { name: "nodes", label: "Nodes (names, comma-separated)" },
      ], "Add");
      if (!values) return;
      await act(ctx, button, `add pool ${values.name}`, () => api("/api/v1/pools/", {
        method: "POST",
        body: { name: values.name, description: values.description, nodes: splitNames(values.nodes) },
      }));
      load();
    }

    async function editPool(pool, button) {
      const values = await askForm(ctx, `Edit pool ${pool.name}`, [
        { name: "description", label: "Description", value: pool.description },
        { name: "nodes", label: "Nodes (names, comma-separated)", type: "textarea", value: pool.nodes.join(", ") },
      ], "Save");
      if (!values) return;
      await act(ctx, button, `edit pool ${pool.name}`, () => api(`/api/v1/pools/${encodeURIComponent(pool.id ?? pool.name)}`, {
        method: "PATCH",
        body: { description: values.description, nodes: splitNames(values.nodes) },
      }));
      load();
    }

    async function renamePool(pool, button) {
      const values = await askForm(ctx, `Rename pool ${pool.name}`, [
        { name: "name", label: "New name", value: pool.name },
      ], "Rename");
      if (!values) return;
      await act(ctx, button, `rename pool ${pool.name}`, () => api(`/api/v1/pools/${encodeURIComponent(pool.id ?? pool.name)}/rename`, {
        method: "POST",
        body: { name: values.name },
      }));
      load();
    }

    async function deletePool(pool, button) {
      if (!(await confirmAction(ctx, `Remove pool ${pool.name}? Its nodes leave it.`, "Remove"))) return;
      await act(ctx, button, `remove pool ${pool.name}`, () => api(`/api/v1/pools/${encodeURIComponent(pool.id ?? pool.name)}`, {
        method: "DELETE",
      }));
      load();
    }

    async function configurePool(pool, button) {
      const listing = await api("/api/v1/templates/");
      const templates = (listing.templates || listing).filter((template) =>
        Object.values(template.client_configuration || {}).some((items) => items && items.length));
      if (!templates.length) {
        ctx.toast("No installed template has client configuration items.", "info");
        return;
      }
      const chosen = await askForm(ctx, `Template configuration of pool ${pool.name}`, [
        { name: "template", label: "Template", options: templates.map((template) => template.key) },
      ], "Next");
      if (!chosen) return;
      const template = templates.find((one) => one.key === chosen.template);
      const path = `/api/v1/pools/${encodeURIComponent(pool.name)}/template-config/${encodeURIComponent(template.key)}`;
      const view = await api(path);
      // An item may differ per platform: each name once, labelled as its first platform has it.
      const items = new Map();
      for (const list of Object.values(template.client_configuration)) {
        for (const item of list || []) if (!items.has(item.name)) items.set(item.name, item);
      }
      const values = await askForm(ctx, `${template.key} for the nodes of ${pool.name}`,
        [...items.values()].map((item) => ({
          name: item.name,
          label: item.label || item.name,
          value: (view.values || {})[item.name] ?? "",
        })), "Save");
      if (!values) return;
      const kept = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== ""));
      await act(ctx, button, `${template.key} configuration of ${pool.name}`,
        () => api(path, { method: "PUT", body: { values: kept } }));
    }

    function row(pool) {
      const nodes = pool.nodes.length
        ? h("span", { title: pool.nodes.join(", ") }, pool.nodes.length > 8
          ? `${pool.nodes.slice(0, 8).join(", ")} and ${pool.nodes.length - 8} more`
          : pool.nodes.join(", "))
        : h("span", { class: "farm-muted" }, "none");
      const cells = [
        h("td", { class: "farm-name" }, pool.name),
        h("td", {}, pool.description),
        h("td", {}, nodes, pool.nodes.length ? h("span", { class: "farm-muted" }, ` (${pool.nodes.length})`) : null),
        h("td", {}, pool.id === null || pool.id === undefined ? "" : String(pool.id)),
      ];
      if (admin || configure) {
        cells.push(h("td", { class: "farm-actions" },
          admin ? h("button", { type: "button", onclick: (e) => editPool(pool, e.target) }, "Edit") : null,
          admin ? h("button", { type: "button", onclick: (e) => renamePool(pool, e.target) }, "Rename") : null,
          configure ? h("button", { type: "button", onclick: (e) => configurePool(pool, e.target) }, "Template config") : null,
          admin ? h("button", { type: "button", class: "danger", onclick: (e) => deletePool(pool, e.target) }, "Remove") : null));
      }
      return h("tr", { "data-pool": pool.name }, ...cells);
    }

    async function load() {
      try {
        const pools = await api("/api/v1/pools/");
        if (stopped) return;
        pools.sort((a, b) => a.name.localeCompare(b.name));
        body.replaceChildren(...pools.map(row));
        count.textContent = `${pools.length} pools`;
      } catch (error) {
        if (!stopped) ctx.toast(`pools: ${errorText(error)}`, "error");
      }
    }

    function later() {
      if (timer === null) {
        timer = setTimeout(() => {
          timer = null;
          load();
        }, REFRESH_AFTER_MS);
      }
    }

    load();
    const unsubscribe = ctx.subscribe({ kinds: ["account", "node_state"] }, (events) => {
      if (events.some((event) => event.type === "node_state" || event.kind === "pool")) later();
    });
    return () => {
      stopped = true;
      clearTimeout(timer);
      unsubscribe();
    };
  },
};
