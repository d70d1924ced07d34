// The jobs page: the folder tree, and the job table paged from the server, filtered
// there (state, owner, template, folder and a query in the grammar of `corral jobs list
// --where`), sortable here, and updated live from the event stream in per-frame batches.

import { collator } from "../dom.js";
import { combine, parseWhere, QueryError, toJson } from "../query.js";
import { jobActions, replaceActions } from "./job_actions.js";

const FIRST_PAGE = 200; // the first rows show fast...
const NEXT_PAGES = 1000; // ...then the rest come in pages whose parsing stays a short task
const REFETCH_AT_ONCE = 50; // more changed jobs than this in a batch: reload the table
const RELOAD_QUIET_MS = 1000; // ...once the changes pause this long (a big submission comes in parts)
const STATES = ["", "queued", "running", "paused", "done", "failed"];
// ETA is the browser's estimate (the dispatcher has no such field): it filters here.
const ETAS = [["", "any ETA"], ["lt600", "ETA under 10 min"], ["lt3600", "ETA under 1 h"], ["gt3600", "ETA over 1 h"]];

/** The ETA filter's test for a job (null: no ETA filter). */
export function etaFilter(choice, now = Date.now) {
  if (!choice) return null;
  const limit = Number(choice.slice(2));
  const under = choice.startsWith("lt");
  return (job) => {
    const eta = etaSeconds(job, now());
    return eta !== null && (under ? eta < limit : eta >= limit);
  };
}

/** A job's ETA in seconds (running jobs with some progress), else null. */
export function etaSeconds(job, now = Date.now()) {
  if (job.state !== "running" || !job.time_started || !(job.progress > 0) || job.progress >= 1) return null;
  const elapsed = (now - new Date(job.time_started).getTime()) / 1000;
  if (!(elapsed > 0)) return null;
  return (elapsed * (1 - job.progress)) / job.progress;
}

/** The progress of a job from a progress event's counts (done and skipped chunks). */
export function progressOf(chunks) {
  const total = chunks.total || 0;
  return total ? ((chunks.done || 0) + (chunks.skipped || 0)) / total : 1;
}

export function progressBar(ctx, fraction) {
  const percent = Math.floor((fraction || 0) * 1000) / 10;
  const fill = ctx.h("span");
  fill.style.width = `${percent}%`;
  return ctx.h("div", { class: "bar", role: "progressbar", "aria-valuenow": String(percent),
    "aria-valuemin": "0", "aria-valuemax": "100" }, fill, ctx.h("em", {}, `${percent}%`));
}

function columns(ctx) {
  return [
    { key: "id", title: "ID", width: "4.5rem", className: "num" },
    { key: "title", title: "Name", width: "minmax(10rem, 3fr)",
      render: (job) => (job.kind === "folder" ? ["\u25A4 ", job.title] : job.title) },
    { key: "state", title: "State", width: "7.5rem", render: (job) => ctx.stateBadge(job.state) },
    { key: "user", title: "Owner", width: "minmax(5rem, 1fr)" },
    { key: "template", title: "Template", width: "minmax(6.5rem, 1fr)" },
    { key: "priority", title: "Priority", width: "5.5rem", className: "num" },
    { key: "progress", title: "Progress", width: "minmax(7rem, 1.2fr)",
      render: (job) => (job.kind === "folder" ? "" : progressBar(ctx, job.progress)) },
    { key: "chunks", title: "Chunks", width: "7rem", className: "num",
      value: (job) => job.chunks?.total ?? 0,
      render: (job) => {
        if (job.kind === "folder") return "";
        const c = job.chunks || {};
        return `${(c.done || 0) + (c.skipped || 0)}/${c.total || 0}${c.failed ? ` \u2716${c.failed}` : ""}`;
      } },
    { key: "pools", title: "Pools", width: "minmax(5rem, 1fr)",
      value: (job) => (job.pools || []).join(", "), render: (job) => (job.pools || []).join(", ") },
    { key: "eta", title: "ETA", width: "6rem", className: "num",
      value: (job) => etaSeconds(job), render: (job) => ctx.formatDuration(etaSeconds(job)) },
    { key: "time_submitted", title: "Submitted", width: "12rem",
      render: (job) => ctx.formatTime(job.time_submitted) },
  ];
}

// -- filters kept in the hash: #/jobs?state=running&owner=joe&where=["Priority","<","50"] --
function readFilters(query) {
  const params = new URLSearchParams(query || "");
  const wheres = params.getAll("where");
  return {
    state: params.get("state") || "", owner: params.get("owner") || "", eta: params.get("eta") || "",
    template: params.get("template") || "", parent: params.get("parent") || "",
    wheres, sort: params.get("sort") || "", desc: params.get("desc") === "1",
  };
}

function writeFilters(filters) {
  const params = new URLSearchParams();
  for (const name of ["state", "owner", "template", "parent", "eta", "sort"]) if (filters[name]) params.set(name, filters[name]);
  if (filters.desc) params.set("desc", "1");
  for (const where of filters.wheres) params.append("where", where);
  const text = params.toString();
  history.replaceState(null, "", `#/jobs${text ? `?${text}` : ""}`);
}

function serverQuery(filters) {
  const query = { limit: FIRST_PAGE };
  if (filters.state) query.state = filters.state;
  if (filters.owner) query.owner = filters.owner;
  if (filters.template) query.template = filters.template;
  if (filters.parent) query.parent = filters.parent;
  if (filters.wheres.length) query.where = toJson(combine(filters.wheres.map(parseWhere)));
  return query;
}

// -- the folder tree --------------------------------------------------------------
function folderTree(ctx, folders, selected, choose) {
  const children = new Map();
  for (const folder of folders) {
    const parent = folder.parent <= 0 ? -1 : folder.parent;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(folder);
  }
  const item = (label, value, nested) => ctx.h("li", {},
    ctx.h("button", { type: "button", class: "folder", "aria-pressed": String(selected === value),
      dataset: { folder: value }, onclick: () => choose(value) }, label),
    nested);
  const branch = (parent, depth) => {
    const list = (children.get(parent) || []).sort((a, b) => collator.compare(a.title, b.title));
    if (list.length === 0 || depth > 32) return null;
    return ctx.h("ul", {}, list.map((folder) => item(["\u25A4 ", folder.title], String(folder.id), branch(folder.id, depth + 1))));
  };
  return ctx.h("nav", { class: "folders panel", "aria-label": "folders" },
    ctx.h("h2", {}, "Folders"),
    ctx.h("ul", {}, item("All jobs", "", null), item("Top level", "-1", branch(-1, 0))));
}

export default {
  name: "jobs",
  title: "Jobs",
  route: /^#\/jobs(?:\?(.*))?$/,
  nav: true,
  permission: null,
  render(root, ctx, [query]) {
    const filters = readFilters(query);
    let folders = [];
    const cleanups = [];

    // toolbar
    const status = ctx.h("span", { class: "count", role: "status" }, "");
    const stateSelect = ctx.h("select", { "aria-label": "state", id: "filter-state" },
      STATES.map((state) => ctx.h("option", { value: state, selected: state === filters.state }, state || "any state")));
    const ownerInput = ctx.h("input", { "aria-label": "owner", id: "filter-owner", placeholder: "owner", value: filters.owner, size: 10 });
    const templateSelect = ctx.h("select", { "aria-label": "template", id: "filter-template" },
      ctx.h("option", { value: "" }, "any template"));
    const etaSelect = ctx.h("select", { "aria-label": "ETA", id: "filter-eta" },
      ETAS.map(([value, label]) => ctx.h("option", { value, selected: value === filters.eta }, label)));
    const whereInput = ctx.h("input", { id: "filter-where", class: "grow", "aria-label": "query",
      placeholder: "query, e.g. Priority>50 or Creator contains joe (Enter adds it)", autocomplete: "off" });
    const whereError = ctx.h("span", { class: "field-error", role: "alert", id: "filter-error" }, "");
    const chips = ctx.h("span", { class: "chips" });
    const bar = ctx.h("div", { class: "toolbar" },
      ctx.h("h1", {}, "Jobs"), stateSelect, ownerInput, templateSelect, etaSelect, whereInput,
      ctx.can("submit") ? ctx.h("a", { class: "button primary", href: "#/submit" }, "Submit a job") : null);
    const line2 = ctx.h("div", { class: "toolbar" }, chips, whereError, ctx.h("span", { class: "grow" }), status);
    const actionsBar = ctx.h("div", { class: "toolbar actions", "aria-label": "actions on the selected job" });
    const tableBox = ctx.h("div", { class: "table-box" });
    const treeBox = ctx.h("div", { class: "tree-box" });
    root.append(bar, line2, ctx.h("div", { class: "split" }, treeBox, ctx.h("div", { class: "main-col" }, actionsBar, tableBox)));

    const drawChips = () => {
      chips.replaceChildren(...filters.wheres.map((where, index) => ctx.h("span", { class: "chip" },
        ctx.h("code", {}, where),
        ctx.h("button", { type: "button", "aria-label": `remove the query ${where}`,
          onclick: () => { filters.wheres.splice(index, 1); apply(); } }, "\u00D7"))));
    };

    const drawTree = () => {
      treeBox.replaceChildren(folderTree(ctx, folders, filters.parent, (value) => { filters.parent = value; apply(); }));
    };

    const table = ctx.createTable(tableBox, {
      label: "jobs",
      columns: columns(ctx),
      rowKey: (job) => job.id,
      sort: filters.sort ? { key: filters.sort, descending: filters.desc } : null,
      filter: etaFilter(filters.eta),
      onSort: (sort) => { filters.sort = sort ? sort.key : ""; filters.desc = !!sort?.descending; writeFilters(filters); },
      fetchPage: (cursor) => {
        if (cursor) return ctx.apiPage(cursor.replace(/([?&])limit=\d+/, `$1limit=${NEXT_PAGES}`));
        return ctx.apiPage("jobs/", { query: serverQuery(filters) });
      },
      onOpen: (job) => ctx.navigate(job.kind === "folder" ? `#/jobs?parent=${job.id}` : `#/jobs/${job.id}`),
      onActive: (job) => drawActions(job),
      onStatus: ({ count, loading, failure }) => {
        status.textContent = failure ? "" : `${count.toLocaleString()} jobs${loading ? " (loading...)" : ""}`;
      },
      emptyText: "No jobs match.",
    });
    cleanups.push(() => table.destroy());

    let actionsFor = null; // the job whose actions are shown: its unapplied edits survive updates
    function drawActions(job) {
      if (!job) {
        actionsFor = null;
        actionsBar.replaceChildren(ctx.h("span", { class: "muted" }, "Select a job (click it, or the arrow keys in the table) for its actions; Enter or a double click opens it."));
        return;
      }
      if (actionsFor !== job.id) actionsBar.replaceChildren();
      actionsFor = job.id;
      replaceActions(actionsBar, [ctx.h("strong", { class: "selected-title" }, `#${job.id} ${job.title}`),
        ...jobActions(ctx, job, { folders, onDone: (changed) => refetch([job.id], changed === null) })]);
    }

    // Bumped by every change of the filters: a live refetch begun before one is stale
    // (the table's reload answers for the new filters) and must not put its rows back.
    let generation = 0;

    function apply() {
      whereError.textContent = "";
      try {
        serverQuery(filters);
      } catch (error) {
        if (!(error instanceof QueryError)) throw error;
        whereError.textContent = error.message;
        return;
      }
      writeFilters(filters);
      generation += 1;
      drawChips();
      drawTree();
      drawActions(null);
      table.reload().then(() => {
        if (table.rows().length === 0 && filters.wheres.length) status.textContent = "0 jobs";
      });
    }

    stateSelect.addEventListener("change", () => { filters.state = stateSelect.value; apply(); });
    ownerInput.addEventListener("change", () => { filters.owner = ownerInput.value.trim(); apply(); });
    templateSelect.addEventListener("change", () => { filters.template = templateSelect.value; apply(); });
    etaSelect.addEventListener("change", () => {
      filters.eta = etaSelect.value;
      writeFilters(filters);
      table.setFilter(etaFilter(filters.eta));
    });
    whereInput.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const text = whereInput.value.trim();
      if (!text) return;
      try {
        parseWhere(text);
      } catch (error) {
        whereError.textContent = error.message;
        return;
      }
      filters.wheres.push(text);
      whereInput.value = "";
      apply();
    });

    drawChips();
    drawActions(null);
    ctx.api("templates/").then((answer) => {
      const keys = (answer.templates || answer || []).map((one) => one.key || one.name).filter(Boolean).sort();
      templateSelect.append(...keys.map((key) => ctx.h("option", { value: key, selected: key === filters.template }, key)));
    }).catch(() => {});
    const loadFolders = () => ctx.api("jobs/", { query: { where: toJson(["kind", "=", "folder"]) } })
      .then((found) => { folders = found; drawTree(); }).catch(() => {});
    drawTree();
    loadFolders();

    // -- live updates --------------------------------------------------------------
    function keep(job) {
      if (filters.state && job.state !== filters.state) return false;
      if (filters.owner && job.user !== filters.owner) return false;
      if (filters.template && job.template !== filters.template) return false;
      if (filters.parent && String(job.parent <= 0 ? -1 : job.parent) !== filters.parent) return false;
      return !job.hidden;
    }

    let reloadTimer = 0;
    function scheduleReload() {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => { reloadTimer = 0; table.reload(); }, RELOAD_QUIET_MS);
    }
    cleanups.push(() => clearTimeout(reloadTimer));

    async function refetch(ids, gone = false) {
      if (gone) {
        table.remove(ids);
        return;
      }
      if (ids.length > REFETCH_AT_ONCE) {
        scheduleReload();
        return;
      }
      const begun = generation;
      const found = await Promise.all(ids.map((id) => ctx.api(`jobs/${id}`).catch(() => null)));
      const missing = ids.filter((id, index) => found[index] === null);
      const present = found.filter(Boolean);
      let fits = present.filter(keep);
      if (filters.wheres.length && fits.length) {
        // The query is the server's to evaluate: ask it which of these still match.
        const where = combine([...filters.wheres.map(parseWhere), ["ID", "=", fits.map((job) => String(job.id))]]);
        const matching = new Set((await ctx.api("jobs/", { query: { where: toJson(where) } }).catch(() => [])).map((job) => job.id));
        fits = fits.filter((job) => matching.has(job.id));
      }
      if (begun !== generation) return; // the filters changed meanwhile: the reload has it
      const fitIds = new Set(fits.map((job) => job.id));
      table.remove([...missing, ...present.filter((job) => !fitIds.has(job.id)).map((job) => job.id)]);
      table.upsert(fits);
      const active = table.active();
      if (active && fitIds.has(active.id)) drawActions(table.get(active.id));
      if (present.some((job) => job.kind === "folder")) loadFolders();
    }

    cleanups.push(ctx.subscribe({ kinds: ["job", "progress", "missed"] }, (events) => {
      const changed = new Set();
      const deleted = new Set();
      const updates = [];
      for (const event of events) {
        if (event.type === "missed") {
          scheduleReload();
          return;
        }
        if (event.type === "progress") {
          const row = table.get(event.job);
          if (!row) continue;
          const next = { ...row, state: event.state, chunks: { ...row.chunks, ...event.chunks }, progress: progressOf(event.chunks) };
          // A job that starts: its start time is the event's (close enough for the ETA),
          // rather than one request per job to read it.
          if (!row.time_started && event.state === "running") next.time_started = new Date(event.time * 1000).toISOString();
          if (filters.state && next.state !== filters.state) deleted.add(event.job);
          else updates.push(next);
        } else if (event.type === "job") {
          for (const id of event.jobs) (event.action === "delete" ? deleted : changed).add(id);
        }
      }
      if (updates.length) table.upsert(updates);
      if (deleted.size) table.remove([...deleted]);
      if (changed.size) refetch([...changed].filter((id) => !deleted.has(id)));
    }));

    return () => cleanups.forEach((done) => done());
  },
};
