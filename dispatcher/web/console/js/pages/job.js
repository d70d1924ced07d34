// One job: its fields, its actions, the chunk grid (one cell per chunk, its state by
// colour, icon and name) and, for the chunk clicked, its attempts and its log with a
// live tail while it runs. Updates come from the event stream, batched per frame.

import { STATE_ICONS } from "../dom.js";
import { jobActions, replaceActions } from "./job_actions.js";
import { etaSeconds, progressBar, progressOf } from "./jobs.js";

const CHUNK_STATES = ["queued", "running", "done", "failed", "skipped"];
const MAX_CELLS = 10000; // a bigger job shows its first chunks (one page of the listing)
// While chunks move the grid is read again at most every second, or every 0.5 s per
// 1,000 chunks for a big job (a listing of 10,000 chunks every 5 s at the most); the
// running chunks and the counts come with every progress event in between.
const CHUNKS_REFRESH_MS = 1000;
const CHUNKS_REFRESH_PER_CHUNK_MS = 0.5;
const FOLLOW_S = 600;
const MAX_LOG_CHARS = 2 * 1024 * 1024;

/** How many leading characters of `followed` are already the end of `sofar`: the
 * follow was opened before the log so far was read, so what was written between the
 * two is in both. */
export function overlap(sofar, followed) {
  for (let count = Math.min(sofar.length, followed.length); count > 0; count -= 1) {
    if (sofar.endsWith(followed.slice(0, count))) return count;
  }
  return 0;
}

function field(ctx, label, value) {
  return [ctx.h("dt", {}, label), ctx.h("dd", {}, value === "" || value === null || value === undefined ? "\u2014" : value)];
}

export default {
  name: "job",
  title: "Job",
  route: /^#\/jobs\/(\d+)$/,
  nav: false,
  permission: null,
  render(root, ctx, [id]) {
    const cleanups = [];
    let job = null;
    let folders = [];
    let cells = [];
    let chunkStates = [];
    let selected = null;
    let refreshTimer = 0;
    let lastRefresh = 0;
    let logAbort = null;
    let gone = false;
    let chunkStatesSeen = null;

    const heading = ctx.h("div", { class: "job-head" });
    const fields = ctx.h("dl", { class: "fields panel" });
    const actionsBar = ctx.h("div", { class: "toolbar actions" });
    const legend = ctx.h("div", { class: "legend", "aria-label": "chunks by state" });
    const grid = ctx.h("div", { class: "chunk-grid", role: "grid", tabindex: "0", "aria-label": "chunks" });
    const gridNote = ctx.h("p", { class: "muted" });
    const chunkPanel = ctx.h("section", { class: "chunk-panel panel", "aria-label": "chunk" },
      ctx.h("p", { class: "muted" }, "Click a chunk (or move with the arrow keys and press Enter) for its attempts and log."));
    root.append(ctx.h("a", { href: "#/jobs", class: "back" }, "\u2190 Jobs"), heading, actionsBar, fields,
      ctx.h("section", { class: "panel" }, ctx.h("h2", {}, "Chunks"), legend, grid, gridNote), chunkPanel);

    function drawHead() {
      heading.replaceChildren(ctx.h("h1", {}, `#${job.id} `, job.title), ctx.stateBadge(job.state), progressBar(ctx, job.progress));
      const c = job.chunks || {};
      fields.replaceChildren(
        ...field(ctx, "Owner", job.user), ...field(ctx, "Template", job.template),
        ...field(ctx, "Priority", String(job.priority)), ...field(ctx, "Pools", (job.pools || []).join(", ")),
        ...field(ctx, "Frames", `${job.start}-${job.end} by ${job.by}, ${job.batch} per chunk`),
        ...field(ctx, "Chunks", `${c.total} (${c.done} done, ${c.running} running, ${c.failed} failed, ${c.skipped} skipped)`),
        ...field(ctx, "Submitted", ctx.formatTime(job.time_submitted)), ...field(ctx, "Started", ctx.formatTime(job.time_started)),
        ...field(ctx, "Finished", ctx.formatTime(job.time_finished)), ...field(ctx, "ETA", ctx.formatDuration(etaSeconds(job))),
        ...(job.failed_reason ? field(ctx, "Failed because", job.failed_reason) : []),
        ...(job.notes ? field(ctx, "Notes", job.notes) : []));
      legend.replaceChildren(...CHUNK_STATES.map((state) => ctx.h("span", { class: "legend-item" },
        ctx.stateBadge(state), ` ${c[state] ?? 0}`)));
    }

    function draw() {
      drawHead();
      replaceActions(actionsBar, jobActions(ctx, job, { folders, onDone: (answer) => {
        if (answer === null) ctx.navigate("#/jobs");
        else reloadJob();
      } }));
    }

    async function reloadJob() {
      try {
        job = await ctx.api(`jobs/${id}`);
      } catch (error) {
        if (error.status === 404) {
          gone = true;
          root.replaceChildren(ctx.h("p", { class: "notice" }, `Job ${id} is gone (deleted). `, ctx.h("a", { href: "#/jobs" }, "Back to the jobs")));
          return;
        }
        throw error;
      }
      draw();
      scheduleChunks();
    }

    // -- the chunk grid ------------------------------------------------------------
    function cellLabel(index) {
      return `chunk ${index}: ${chunkStates[index]}`;
    }

    function setCell(index, state) {
      if (index >= cells.length || chunkStates[index] === state) return;
      chunkStates[index] = state;
      const cell = cells[index];
      cell.className = `cell state-${state}${index === selected ? " selected" : ""}`;
      cell.textContent = STATE_ICONS[state] || "?";
      cell.title = cellLabel(index);
      cell.setAttribute("aria-label", cellLabel(index));
    }

    async function loadChunks() {
      lastRefresh = performance.now();
      const found = await ctx.api(`jobs/${id}/chunks/`, { query: { limit: MAX_CELLS } });
      if (gone) return;
      if (cells.length !== Math.min(found.length, MAX_CELLS)) {
        cells = [];
        chunkStates = [];
        const fragment = document.createDocumentFragment();
        for (const chunk of found) {
          const cell = document.createElement("div");
          cell.setAttribute("role", "gridcell");
          cell.dataset.index = String(chunk.id);
          cells.push(cell);
          chunkStates.push("");
          fragment.appendChild(cell);
        }
        grid.replaceChildren(fragment);
        gridNote.textContent = job && job.chunks.total > found.length ? `The first ${found.length} of ${job.chunks.total} chunks.` : "";
      }
      for (const chunk of found) setCell(chunk.id, chunk.state);
      if (selected !== null && chunkStates[selected] !== chunkStatesSeen) showChunk(selected, false);
    }
    function scheduleChunks() {
      if (refreshTimer || gone) return;
      const every = Math.max(CHUNKS_REFRESH_MS, (job?.chunks?.total || 0) * CHUNKS_REFRESH_PER_CHUNK_MS);
      const wait = Math.max(0, lastRefresh + every - performance.now());
      refreshTimer = setTimeout(() => {
        refreshTimer = 0;
        loadChunks().catch((error) => ctx.toast(`chunks: ${error.message}`, "error"));
      }, wait);
    }
    cleanups.push(() => clearTimeout(refreshTimer));

    function select(index) {
      if (index < 0 || index >= cells.length) return;
      if (selected !== null && cells[selected]) cells[selected].classList.remove("selected");
      selected = index;
      cells[index].classList.add("selected");
      cells[index].scrollIntoView({ block: "nearest" });
    }

    grid.addEventListener("click", (event) => {
      const cell = event.target.closest("[data-index]");
      if (!cell) return;
      select(Number(cell.dataset.index));
      showChunk(selected, true);
    });
    grid.addEventListener("keydown", (event) => {
      const perRow = Math.max(1, Math.round(grid.clientWidth / (cells[0]?.offsetWidth + 2 || 24)));
      const at = selected ?? -1;
      const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, ArrowDown: at + perRow, ArrowUp: at - perRow, Home: 0, End: cells.length - 1 };
      if (event.key in moves) {
        event.preventDefault();
        select(Math.max(0, Math.min(cells.length - 1, moves[event.key])));
      } else if (event.key === "Enter" && selected !== null) {
        event.preventDefault();
        showChunk(selected, true);
      }
    });

    // -- one chunk: attempts and log ------------------------------------------------
    async function showChunk(index, fresh, attempt = null) {
      chunkStatesSeen = chunkStates[index];
      if (logAbort) logAbort.abort();
      logAbort = new AbortController();
      const signal = logAbort.signal;
      const chunk = await ctx.api(`jobs/${id}/chunks/${index}`);
      if (signal.aborted) return;
      const log = ctx.h("pre", { class: "log", "aria-label": "chunk log", tabindex: "0" });
      const tailNote = ctx.h("span", { class: "muted tail-note" }, "");
      const runs = chunk.runs || [];
      const attempts = ctx.h("table", { class: "attempts" },
        ctx.h("thead", {}, ctx.h("tr", {}, ["Attempt", "Node", "State", "Started", "Finished", "Exit", "Error", ""].map((title) => ctx.h("th", {}, title)))),
        ctx.h("tbody", {}, runs.map((run) => ctx.h("tr", { class: run.attempt === attempt ? "selected" : null },
          ctx.h("td", {}, String(run.attempt)), ctx.h("td", {}, String(run.node_id ?? "")), ctx.h("td", {}, ctx.stateBadge(run.state)),
          ctx.h("td", {}, ctx.formatTime(run.started)), ctx.h("td", {}, ctx.formatTime(run.finished)),
          ctx.h("td", {}, run.exit_code === null || run.exit_code === undefined ? "" : String(run.exit_code)),
          ctx.h("td", { class: "error-text" }, run.error || ""),
          ctx.h("td", {}, ctx.h("button", { type: "button", onclick: () => showChunk(index, true, run.attempt) }, "Log"))))));
      const chunkControls = [];
      if (job && mayRequeue()) {
        for (const [label, state] of [["Requeue", "queued"], ["Skip", "skipped"], ["Mark done", "done"]]) {
          chunkControls.push(ctx.h("button", { type: "button", dataset: { chunkAction: state }, onclick: async () => {
            try {
              await ctx.api(`jobs/${id}/chunks/${index}`, { method: "PUT", body: { state } });
              ctx.toast(`chunk ${index}: ${state}`, "success");
              scheduleChunks();
            } catch (error) {
              ctx.toast(`${label}: ${error.detail || error.message}`, "error");
            }
          } }, label));
        }
      }
      chunkPanel.replaceChildren(
        ctx.h("h2", {}, `Chunk ${index} `, ctx.stateBadge(chunk.state), ` frames ${chunk.start}-${chunk.end}`, chunk.node ? ` on ${chunk.node}` : ""),
        ctx.h("div", { class: "toolbar" }, chunkControls),
        runs.length ? attempts : ctx.h("p", { class: "muted" }, "No attempt yet."),
        ctx.h("h3", {}, attempt === null ? "Log (latest attempt) " : `Log (attempt ${attempt}) `, tailNote), log);
      if (runs.length === 0) return;
      const logPath = `/api/v1/logs/chunks/${id}/${index}`;
      const query = attempt === null ? {} : { attempt };
      const append = (text) => {
        const node = document.createTextNode(text);
        log.appendChild(node);
        if (log.textContent.length > MAX_LOG_CHARS) log.textContent = log.textContent.slice(-MAX_LOG_CHARS);
        log.scrollTop = log.scrollHeight;
      };
      const running = chunk.state === "running" && (attempt === null || attempt === runs[runs.length - 1].attempt);
      try {
        if (!running) {
          append(await ctx.api(logPath, { query, signal }));
          return;
        }
        // A running chunk: its log so far, then what it writes, as it writes it. The
        // follow sends only what is written after it started, so it is opened first
        // and the log so far read next; what both hold (written in between) shows once.
        tailNote.textContent = "(live)";
        const response = await fetch(`${logPath}?follow=1&follow_s=${FOLLOW_S}`, { credentials: "same-origin", signal });
        if (!response.ok) {
          append(await ctx.api(logPath, { query, signal }));
          return;
        }
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let early = ""; // followed while the log so far was on its way
        let joined = false;
        const followed = (async () => {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            const text = decoder.decode(value, { stream: true });
            if (joined) append(text);
            else early += text;
          }
        })();
        followed.catch(() => {}); // awaited below; an abort meanwhile is not unhandled
        let sofar = "";
        try {
          sofar = await ctx.api(logPath, { query, signal });
        } catch (error) {
          if (error.name === "AbortError" || error.status !== 404) {
            reader.cancel().catch(() => {}); // no half log: the follow ends too
            throw error;
          }
        }
        append(sofar + early.slice(overlap(sofar, early)));
        joined = true;
        await followed;
        tailNote.textContent = "(ended)";
      } catch (error) {
        if (error.name === "AbortError") return;
        if (error.status === 404) append("(no log)");
        else append(`(could not read the log: ${error.message})`);
      }
    }
    cleanups.push(() => logAbort && logAbort.abort());

    function mayRequeue() {
      return ctx.can("manage_all") || (ctx.can("manage_own") && job.user === ctx.user.name);
    }

    // -- live ---------------------------------------------------------------------
    cleanups.push(ctx.subscribe({ kinds: ["progress", "job", "chunk", "missed"], job: id }, (events) => {
      let reload = false;
      for (const event of events) {
        if (event.type === "progress" && job) {
          // A new state brings new times and actions: read the job again; else redraw here.
          if (event.state !== job.state) reload = true;
          job = { ...job, state: event.state, chunks: { ...job.chunks, ...event.chunks }, progress: progressOf(event.chunks) };
          for (const index of Object.keys(event.running || {})) setCell(Number(index), "running");
        } else if (event.type === "chunk") {
          setCell(event.chunk, event.state);
        } else {
          reload = true;
        }
      }
      if (reload) reloadJob();
      else if (job) {
        drawHead();
        scheduleChunks();
      }
    }));

    ctx.api("jobs/", { query: { where: JSON.stringify(["kind", "=", "folder"]) } }).then((found) => {
      folders = found;
      if (job) draw();
    }).catch(() => {});
    reloadJob().then(() => grid.focus({ preventScroll: true })).catch((error) => ctx.toast(error.message, "error"));
    return () => {
      gone = true;
      cleanups.forEach((done) => done());
    };
  },
};
