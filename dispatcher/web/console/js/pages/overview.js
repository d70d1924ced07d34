// Farm overview: the dispatcher's health and the farm's utilisation over time, charted
// from the statistics samples (GET /api/v1/statistics/) with the vendored uPlot.
import uPlot from "../vendor/uPlot.esm.js";
import { ensureStylesheet, errorText, farmStyles } from "./farmkit.js";

const RANGES_S = [
  ["1 hour", 3600],
  ["6 hours", 6 * 3600],
  ["24 hours", 24 * 3600],
  ["7 days", 7 * 24 * 3600],
];
const HEALTH_EVERY_MS = 5000;
const SAMPLES_EVERY_MS = 15000;
const PAGE_ROWS = 10000; // the route's largest page
const CHART_HEIGHT = 200;

// Series styles: a colour (the console's palette, light or dark) AND a dash pattern, so
// the lines stay apart without colour vision.
function styles() {
  const css = getComputedStyle(document.documentElement);
  const colour = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const running = colour("--running", "#0072b2");
  return {
    busy: { stroke: running, width: 2 },
    idle: { stroke: colour("--done", "#009e73"), width: 2, dash: [8, 4] },
    offline: { stroke: colour("--muted", "#5b6370"), width: 2, dash: [2, 3] },
    perHour: { stroke: colour("--held", "#7a5195"), width: 2 },
    queued: { stroke: colour("--failed", "#d55e00"), width: 2 },
    running: { stroke: running, width: 2, dash: [8, 4] },
    text: colour("--text", "#1c1f24"),
    line: colour("--line", "#d9dde3"),
  };
}

/** Rows of samples -> the aligned columns uPlot draws (time in seconds). */
export function chartColumns(samples) {
  const time = [];
  const busy = [];
  const idle = [];
  const offline = [];
  const perHour = [];
  const queued = [];
  const running = [];
  let previous = null;
  for (const sample of samples) {
    time.push(sample.time);
    const online = num(sample.nodes_online);
    const nodes = num(sample.nodes);
    const busyNow = num(sample.nodes_busy);
    busy.push(busyNow);
    idle.push(online !== null && busyNow !== null ? Math.max(0, online - busyNow) : null);
    offline.push(online !== null && nodes !== null ? Math.max(0, nodes - online) : null);
    queued.push(num(sample.chunks_queued));
    running.push(num(sample.chunks_running));
    let rate = null;
    if (previous !== null) {
      const done = num(sample.results) - num(previous.results);
      const seconds = sample.time - previous.time;
      // A counters reset or a restart makes the count go down: no rate for that step.
      if (seconds > 0 && done >= 0) rate = (done / seconds) * 3600;
    }
    perHour.push(rate);
    previous = sample;
  }
  return { time, busy, idle, offline, perHour, queued, running };
}

function num(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** Every sample from `start` on, following pages by time (the rows are oldest first). */
export async function fetchSamples(api, start) {
  const rows = [];
  let from = start;
  for (;;) {
    const page = await api("/api/v1/statistics/", { query: { start: from, limit: PAGE_ROWS } });
    rows.push(...page);
    if (page.length < PAGE_ROWS) return rows;
    from = page[page.length - 1].time + 1e-6;
  }
}

function chartOptions(title, series, width, style) {
  const axis = { stroke: style.text, grid: { stroke: style.line }, ticks: { stroke: style.line } };
  return {
    title,
    width,
    height: CHART_HEIGHT,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    axes: [axis, { ...axis, size: 60 }],
    series: [{}, ...series.map(([label, line]) => ({ label, ...line, points: { show: false } }))],
  };
}

function healthCard(h, label, state, lines) {
  const icon = { ok: "\u2714", warn: "\u26a0", bad: "\u2716" }[state];
  const word = { ok: "OK", warn: "Degraded", bad: "Down" }[state];
  return h(
    "section",
    { class: `farm-health-card farm-health-${state}`, "data-health": label },
    h("h3", {}, label),
    h("p", { class: "farm-health-state" }, `${icon} ${word}`),
    h("ul", {}, ...lines.map((line) => h("li", {}, line))),
  );
}

/** The dispatcher's status -> health cards for the store, the hook host and the loop. */
export function healthCards(h, status, engine, formatDuration) {
  const store = status.store_health || {};
  const storeState = store.state === "ok" ? "ok" : "bad";
  const storeLines = [
    `state: ${store.state ?? "unknown"}`,
    `batches committed: ${store.batches ?? "?"}`,
    `batches refused: ${store.refused_batches ?? 0}`,
  ];
  if (store.cause) storeLines.push(`cause: ${store.cause}`);
  const hookUp = status.hook_host_pid !== null && status.hook_host_pid !== undefined;
  const hookState = !hookUp ? "bad" : status.hook_faults > 0 ? "warn" : "ok";
  const hookLines = [
    hookUp ? `process ${status.hook_host_pid}` : "not running",
    `starts: ${status.hook_host_starts}`,
    `faults: ${status.hook_faults}`,
    `hooks skipped: ${status.hooks_skipped}`,
  ];
  const loop = status.loop || {};
  const lag = loop.lag_ms ?? 0;
  const loopState = lag > 1000 ? "bad" : lag > 100 ? "warn" : "ok";
  const loopLines = [
    `lag now: ${lag} ms`,
    `largest lag: ${loop.max_lag_ms ?? "?"} ms`,
    `stalls: ${loop.stalls ?? 0}`,
  ];
  const farmLines = [
    `version ${status.version}, up ${formatDuration(status.uptime_s)}`,
    `engine: ${engine && engine.running === false ? "paused" : "running"}`,
    `jobs: ${status.jobs}`,
    `nodes online: ${status.nodes_online} of ${status.nodes}`,
    `chunks running: ${status.chunks_running}`,
  ];
  const engineState = engine && engine.running === false ? "warn" : "ok";
  return [
    healthCard(h, "Dispatcher", engineState, farmLines),
    healthCard(h, "Store", storeState, storeLines),
    healthCard(h, "Hook host", hookState, hookLines),
    healthCard(h, "Event loop", loopState, loopLines),
  ];
}

export default {
  name: "overview",
  title: "Farm",
  route: /^#\/overview$/,
  nav: true,
  permission: null,
  render(root, ctx) {
    const { h, api } = ctx;
    ensureStylesheet("/console/js/vendor/uPlot.min.css");
    farmStyles();
    let rangeS = RANGES_S[0][1];
    let samples = [];
    let charts = [];
    let stopped = false;
    const timers = [];

    const health = h("div", { class: "farm-health", "aria-live": "polite" });
    const note = h("p", { class: "farm-note" });
    const chartBox = h("div", { class: "farm-charts" });
    const picker = h(
      "select",
      {
        "aria-label": "Time range",
        onchange: (event) => {
          rangeS = Number(event.target.value);
          loadSamples(true);
        },
      },
      ...RANGES_S.map(([label, seconds]) => h("option", { value: String(seconds) }, label)),
    );
    root.append(
      h("h2", {}, "Farm overview"),
      health,
      h("div", { class: "farm-toolbar" }, h("label", {}, "Utilisation over ", picker)),
      note,
      chartBox,
    );

    function width(box) {
      return Math.max(320, (box.clientWidth || chartBox.clientWidth || 900) - 8);
    }

    function draw() {
      for (const chart of charts) chart.destroy();
      charts = [];
      chartBox.replaceChildren();
      const columns = chartColumns(samples);
      note.textContent = samples.length
        ? `${samples.length} samples since ${ctx.formatTime(samples[0].time)}`
        : "No statistics samples in this range yet (the dispatcher stores one every --statistics-interval-s).";
      if (!samples.length) return;
      const style = styles();
      const specs = [
        ["Nodes", [["busy", style.busy], ["idle", style.idle], ["offline", style.offline]],
          [columns.busy, columns.idle, columns.offline]],
        ["Chunks per hour", [["chunks/h", style.perHour]], [columns.perHour]],
        ["Queue", [["queued chunks", style.queued], ["running chunks", style.running]],
          [columns.queued, columns.running]],
      ];
      for (const [title, series, data] of specs) {
        const box = h("div", { class: "farm-chart", "data-chart": title });
        chartBox.append(box);
        const options = chartOptions(title, series, width(box), style);
        const chart = new uPlot(options, [columns.time, ...data], box);
        chart.box = box;
        charts.push(chart);
      }
    }

    // A change of range starts a new generation: answers to loads of an earlier one are
    // dropped, and new samples join only after the last one held (no duplicate).
    let samplesGeneration = 0;

    async function loadSamples(full) {
      const generation = full ? ++samplesGeneration : samplesGeneration;
      const stale = () => stopped || generation !== samplesGeneration;
      try {
        if (full || !samples.length) {
          const answer = await fetchSamples(api, Date.now() / 1000 - rangeS);
          if (stale()) return;
          samples = answer;
        } else {
          const fresh = await fetchSamples(api, samples[samples.length - 1].time + 1e-6);
          if (stale()) return;
          const last = samples.length ? samples[samples.length - 1].time : -Infinity;
          const start = Date.now() / 1000 - rangeS;
          samples = samples.concat(fresh.filter((sample) => sample.time > last))
            .filter((sample) => sample.time >= start);
          if (!fresh.length) return;
        }
        draw();
      } catch (error) {
        if (!stale()) ctx.toast(`statistics: ${errorText(error)}`, "error");
      }
    }

    async function loadHealth() {
      try {
        const [status, engine] = await Promise.all([
          api("/api/v1/status"),
          api("/api/v1/system/engine"),
        ]);
        if (!stopped) health.replaceChildren(...healthCards(h, status, engine, ctx.formatDuration));
      } catch (error) {
        if (!stopped) {
          health.replaceChildren(
            healthCard(h, "Dispatcher", "bad", [`not answering: ${errorText(error)}`]),
          );
        }
      }
    }

    const resize = new ResizeObserver(() => {
      for (const chart of charts) chart.setSize({ width: width(chart.box), height: CHART_HEIGHT });
    });
    resize.observe(chartBox);
    // Settings, the engine and the hook host change with system events: look again then.
    const unsubscribe = ctx.subscribe({ kinds: ["system", "missed"] }, () => loadHealth());
    loadHealth();
    loadSamples(true);
    timers.push(setInterval(loadHealth, HEALTH_EVERY_MS));
    timers.push(setInterval(() => loadSamples(false), SAMPLES_EVERY_MS));
    return () => {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
      resize.disconnect();
      unsubscribe();
      for (const chart of charts) chart.destroy();
    };
  },
};
