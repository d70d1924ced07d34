// Nodes: every render node in a virtualised table (state, current job and chunk, CPU,
// memory, pools, exclusions, template configuration), kept live from the event stream and
// a light poll for the resources; the usual node actions on the selected row.
import { collator, errorText, farmStyles, may, memoryUse } from "./farmkit.js";
import { nodeActions } from "./nodeactions.js";

const PAGE_NODES = 250;
const POLL_MIN_MS = 5000; // resources change without events: look again this often at least
const PROGRESS_MIN_MS = 1000; // chunks starting and ending: reload at most this often
const TARGETED_MAX = 20; // more changed nodes than this in one batch: reload them all

/** A node's running chunks as "job 12 · chunk 3" (+ how many more). */
export function runningText(node) {
  const running = node.running || [];
  if (!running.length) return "";
  const first = running[0];
  const more = running.length > 1 ? ` +${running.length - 1}` : "";
  return `job ${first.job} \u00b7 chunk ${first.chunk}${more}`;
}

/** A node's exclusions as one line: templates, then jobs. */
export function exclusionsText(node) {
  const parts = [];
  if (node.excluded_templates && node.excluded_templates.length) {
    parts.push(`templates: ${node.excluded_templates.join(", ")}`);
  }
  if (node.excluded_jobs && node.excluded_jobs.length) {
    parts.push(`jobs: ${node.excluded_jobs.join(", ")}`);
  }
  return parts.join("; ");
}

/** Whether a node matches the filter text (name, state, pool, platform, host). */
export function nodeMatches(node, text) {
  if (!text) return true;
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const hay = [node.name, node.status, node.platform, node.host, ...(node.pools || [])]
    .join(" ")
    .toLowerCase();
  return words.every((word) => hay.includes(word));
}

/**
 * The templates that have client configuration items, and per node id the templates
 * giving it values of its own or through its pools: {templates: [key], byNode: Map}.
 */
export async function templateConfiguration(api) {
  const listing = await api("/api/v1/templates/");
  const templates = (listing.templates || listing).filter((template) =>
    Object.values(template.client_configuration || {}).some((items) => items && items.length));
  const byNode = new Map();
  for (const template of templates) {
    const view = await api(`/api/v1/templates/${encodeURIComponent(template.key)}/client-config`);
    for (const node of view.nodes || []) {
      const own = Object.keys(node.node_values || {}).length;
      const pooled = new Set(Object.values(node.pool_values || {}).flatMap((values) => Object.keys(values || {}))).size;
      if (!own && !pooled) continue;
      const parts = [own ? `${own} set` : "", pooled ? `${pooled} from pools` : ""].filter(Boolean);
      if (!byNode.has(node.id)) byNode.set(node.id, []);
      byNode.get(node.id).push(`${template.key} (${parts.join(", ")})`);
    }
  }
  return { templates: templates.map((template) => template.key), byNode };
}

function cpuCell(h, node) {
  const cpu = node.resources && node.resources.cpu_percent;
  if (typeof cpu !== "number") return "";
  const bar = h("span", { class: "farm-bar", "aria-hidden": "true" }, h("span", {}));
  bar.firstChild.style.width = `${Math.min(100, Math.max(0, cpu))}%`;
  return h("span", { class: "farm-meter" }, bar, ` ${cpu.toFixed(0)} %`);
}

function memoryCell(h, node) {
  const { text, fraction } = memoryUse(node.resources);
  if (fraction === null) return "";
  const bar = h("span", { class: "farm-bar", "aria-hidden": "true" }, h("span", {}));
  bar.firstChild.style.width = `${Math.round(fraction * 100)}%`;
  return h("span", { class: "farm-meter", title: `${Math.round(fraction * 100)} % used` }, bar, ` ${text}`);
}

/** Per column, each text value's rank in collation order ("" stays blank: sorted last). */
export class TextRanks {
  constructor() {
    this.columns = new Map(); // key -> Map(text -> rank)
  }

  /** Make sure every text in `texts` has a rank (ranking the column again if one is new). */
  learn(key, texts) {
    let known = this.columns.get(key);
    if (!known) this.columns.set(key, (known = new Map()));
    const fresh = texts.filter((text) => text !== "" && !known.has(text));
    if (!fresh.length) return;
    const all = [...new Set([...known.keys(), ...fresh])].sort(collator.compare);
    known.clear();
    all.forEach((text, index) => known.set(text, index));
  }

  rank(key, text) {
    if (text === "" || text === null || text === undefined) return "";
    const known = this.columns.get(key);
    const rank = known ? known.get(text) : undefined;
    return rank === undefined ? "" : rank;
  }
}

export default {
  name: "nodes",
  title: "Nodes",
  route: /^#\/nodes$/,
  nav: true,
  permission: null,
  render(root, ctx) {
    const { h, api } = ctx;
    farmStyles();
    const manage = may(ctx, "manage_nodes");
    const all = new Map(); // id -> node view
    const signatures = new Map(); // id -> JSON of the view, to keep unchanged rows as they are
    let config = { templates: [], byNode: new Map() };
    let filterText = "";
    let stopped = false;
    let loading = false;
    let wanted = false; // a reload asked for while one ran: run another after it
    let lastLoadAt = 0;
    let lastLoadMs = 0;
    let pollMs = POLL_MIN_MS;
    let pollTimer = null;
    let progressTimer = null;

    const status = h("span", { class: "farm-note farm-node-count", "aria-live": "polite" });
    const filter = h("input", {
      type: "search",
      placeholder: "Filter: name, state, pool, platform",
      "aria-label": "Filter nodes",
      oninput: () => {
        filterText = filter.value.trim();
        showAll();
      },
    });
    const selected = h("span", { class: "farm-selected" }, "No node selected");
    const actionBar = h("div", { class: "farm-actions", "aria-label": "Actions on the selected node" });
    const tableBox = h("div", { class: "farm-table-box" });
    root.append(
      h("h2", {}, "Nodes"),
      h("div", { class: "farm-toolbar" }, filter, status),
      h("div", { class: "farm-toolbar" }, selected, actionBar),
      tableBox,
    );

    // Text columns sort by a rank worked out once per new value with one Intl.Collator:
    // a thousand rows sort in a few milliseconds, the comparisons being numbers.
    const ranks = new TextRanks();
    const textColumn = (key, title, width, text, extra = {}) => ({
      key, title, width, ...extra,
      value: (node) => ranks.rank(key, text(node)),
      render: extra.render || ((node) => text(node)),
    });
    const textOf = {
      status: (node) => node.status,
      name: (node) => node.name,
      pools: (node) => (node.pools || []).join(", "),
      exclusions: exclusionsText,
      config: (node) => (config.byNode.get(node.id) || []).join(", "),
      platform: (node) => node.platform || "",
    };
    const columns = [
      textColumn("status", "State", "8rem", textOf.status,
        { render: (node) => ctx.stateBadge(node.status) }),
      textColumn("name", "Node", "minmax(9rem, 1.4fr)", textOf.name, { className: "farm-name" }),
      { key: "running", title: "Job \u00b7 chunk", width: "minmax(9rem, 1fr)",
        value: (node) => (node.running && node.running.length ? node.running[0].job * 1e6 + node.running[0].chunk : null),
        render: (node) => runningCell(node) },
      { key: "cpu", title: "CPU", width: "7.5rem",
        value: (node) => (node.resources ? node.resources.cpu_percent : null),
        render: (node) => cpuCell(h, node) },
      { key: "memory", title: "Memory", width: "minmax(13.5rem, 1.2fr)",
        value: (node) => memoryUse(node.resources).fraction,
        render: (node) => memoryCell(h, node) },
      textColumn("pools", "Pools", "minmax(7rem, 1fr)", textOf.pools),
      textColumn("exclusions", "Exclusions", "minmax(7rem, 1fr)", textOf.exclusions),
      textColumn("config", "Template config", "minmax(7rem, 1fr)", textOf.config),
      textColumn("platform", "Platform", "5.5rem", textOf.platform),
    ];
    const ranked = (views) => {
      for (const [key, text] of Object.entries(textOf)) ranks.learn(key, views.map(text));
      return views;
    };

    function runningCell(node) {
      const text = runningText(node);
      if (!text) return "";
      return h("a", { href: `#/jobs/${node.running[0].job}`, title: "Open the job" }, text);
    }

    const table = ctx.createTable(tableBox, {
      columns,
      rowKey: (node) => node.id,
      sort: { key: "name", descending: false },
      label: "Render nodes",
      emptyText: "No render nodes have registered yet.",
      onOpen: (node) => node && ctx.navigate(`#/nodes/${node.id}`),
      onActive: (node) => showSelected(node),
    });

    const actions = nodeActions(ctx, { compact: true });

    const details = h("a", { class: "button" }, "Details");

    function showSelected(node) {
      if (!node) {
        selected.textContent = "No node selected";
        details.remove();
        actions.clear(actionBar);
        return;
      }
      const current = all.get(node.id) || node;
      selected.replaceChildren("Selected: ", h("strong", {}, current.name), " ");
      details.href = `#/nodes/${current.id}`;
      if (!details.isConnected) actionBar.before(details);
      if (manage) actions.show(actionBar, current, (view) => view && update([view]));
    }

    function visible() {
      const rows = [];
      for (const node of all.values()) if (nodeMatches(node, filterText)) rows.push(node);
      return rows;
    }

    function showAll() {
      table.setRows(ranked(visible()));
      status.textContent = `${all.size} nodes${filterText ? `, ${table.rows().length} shown` : ""}`;
    }

    /** Put fresh views in; a view equal to the one shown keeps its object (no redraw). */
    function update(views) {
      const changed = [];
      for (const view of views) {
        const signature = JSON.stringify(view);
        if (signatures.get(view.id) === signature) continue;
        signatures.set(view.id, signature);
        all.set(view.id, view);
        changed.push(view);
      }
      if (!changed.length) return;
      const shown = changed.filter((node) => nodeMatches(node, filterText));
      const hidden = changed.filter((node) => !nodeMatches(node, filterText)).map((node) => node.id);
      if (shown.length) table.upsert(ranked(shown));
      if (hidden.length) table.remove(hidden);
      const active = table.active();
      if (active && changed.some((node) => node.id === active.id)) showSelected(all.get(active.id));
    }

    function forget(ids) {
      for (const id of ids) {
        all.delete(id);
        signatures.delete(id);
      }
      table.remove(ids);
    }

    async function loadAll() {
      if (stopped) return;
      if (loading) {
        wanted = true;
        return;
      }
      loading = true;
      wanted = false;
      const started = performance.now();
      try {
        const seen = new Set();
        let page = await ctx.apiPage("/api/v1/nodes/", { query: { limit: PAGE_NODES } });
        for (;;) {
          if (stopped) return;
          for (const view of page.items) seen.add(view.id);
          update(page.items);
          if (!page.next) break;
          page = await ctx.apiPage(page.next);
        }
        forget([...all.keys()].filter((id) => !seen.has(id)));
        status.textContent = `${all.size} nodes${filterText ? `, ${table.rows().length} shown` : ""}`;
      } catch (error) {
        if (!stopped) status.textContent = `Could not load the nodes: ${errorText(error)}`;
      } finally {
        loading = false;
        lastLoadAt = performance.now();
        lastLoadMs = lastLoadAt - started;
        status.title = `listed in ${Math.round(lastLoadMs)} ms`;
        // A big farm takes longer to list: look less often, so the poll stays light.
        pollMs = Math.max(POLL_MIN_MS, 20 * lastLoadMs);
        schedulePoll();
        if (wanted) soon();
      }
    }

    let configGeneration = 0; // a read that answers after a later one started is dropped

    async function loadConfig() {
      const generation = ++configGeneration;
      try {
        const answer = await templateConfiguration(api);
        if (stopped || generation !== configGeneration) return;
        config = answer;
        table.setRows(ranked(visible()));
      } catch (error) {
        if (!stopped && generation === configGeneration) {
          ctx.toast(`template configuration: ${errorText(error)}`, "error");
        }
      }
    }

    async function loadSome(ids) {
      const views = [];
      const gone = [];
      await Promise.all(ids.map(async (id) => {
        try {
          views.push(await api(`/api/v1/nodes/${id}`));
        } catch (error) {
          if (error && error.status === 404) gone.push(id);
        }
      }));
      if (stopped) return;
      update(views);
      forget(gone);
    }

    function schedulePoll() {
      clearTimeout(pollTimer);
      if (!stopped) pollTimer = setTimeout(loadAll, pollMs);
    }

    function soon() {
      if (progressTimer !== null) return;
      const every = Math.max(PROGRESS_MIN_MS, 5 * lastLoadMs);
      const wait = Math.max(0, lastLoadAt + every - performance.now());
      progressTimer = setTimeout(() => {
        progressTimer = null;
        loadAll();
      }, wait);
    }

    const unsubscribe = ctx.subscribe(
      { kinds: ["node", "node_state", "progress", "account", "system", "missed"] },
      (events) => {
        const ids = new Set();
        let everything = false;
        let configChanged = false;
        for (const event of events) {
          if (event.type === "node") for (const id of event.nodes || []) ids.add(id);
          else if (event.type === "node_state") ids.add(event.node);
          else if (event.type === "progress") everything = true; // chunks started or ended
          else if (event.type === "account" && event.kind === "pool") everything = true;
          else if (event.type === "system") {
            // Templates reloaded (their items may differ) or nodes found by a scan.
            if (/template|restart/.test(event.action || "")) configChanged = true;
            if (event.action === "nodes_network_scan") everything = true;
          }
          else if (event.type === "missed") {
            everything = true;
            configChanged = true;
          }
          if (event.type === "node" && /config/.test(event.action || "")) configChanged = true;
        }
        if (configChanged) loadConfig();
        if (everything || ids.size > TARGETED_MAX) soon();
        else if (ids.size) loadSome([...ids]);
      },
    );

    loadAll();
    loadConfig();
    return () => {
      stopped = true;
      clearTimeout(pollTimer);
      clearTimeout(progressTimer);
      unsubscribe();
      actions.close();
      table.destroy();
    };
  },
};

