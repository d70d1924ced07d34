// A virtualised table: only the rows in view (and a few around) are in the DOM, so
// ten thousand rows scroll and update as lightly as fifty. Rows come from `rows` or
// from `fetchPage(cursor)` -> {items, next}, called page after page until `next` is
// null (the first page shows at once). Keyboard: arrows, PageUp/PageDown, Home/End
// move the active row; Enter opens it. Headers sort (click, or Enter on a header).

import { collator, h } from "./dom.js";

const OVERSCAN = 8;
const RESORT_MS = 1000; // live updates re-sort at most this often

/**
 * createTable(container, {columns, rowKey, rows, fetchPage, onOpen, onActive, sort, filter,
 *   rowHeight, emptyText, label, onStatus})
 * `filter(row)` keeps rows in the browser (for values the server does not filter on).
 * columns: [{key, title, width, sortable, value(row), render(row) -> Node | text, className}]
 */
export function createTable(container, options) {
  const columns = options.columns;
  const rowKey = options.rowKey || ((row) => row.id);
  // Rows grow with the text (a wall display's larger font): 2.2 times the root font size,
  // measured again when the table's size changes (a window moved to another screen).
  const heightNow = () => options.rowHeight ||
    Math.round(2.2 * (parseFloat(getComputedStyle(document.documentElement).fontSize) || 15));
  let rowHeight = heightNow();
  const byKey = new Map();
  let order = [];
  let sort = options.sort ? { ...options.sort } : null;
  let rowFilter = options.filter || null;
  let activeKey = null;
  let dirty = true;
  let needsSort = false;
  let lastSortAt = 0;
  let frame = 0;
  let resortTimer = 0;
  let loading = false;
  let generation = 0;
  let destroyed = false;
  let failure = null;
  const shown = new Map(); // key -> {row, element, index}
  const markName = `table:${options.label || "rows"}`;
  let firstRowsMarked = false;

  const template = columns.map((column) => column.width || "minmax(6rem, 1fr)").join(" ");
  const header = h("div", { class: "vt-header", role: "row" });
  header.style.gridTemplateColumns = template;
  const spacer = h("div", { class: "vt-spacer" });
  const viewport = h("div", {
    class: "vt-viewport", tabindex: "0", role: "rowgroup",
    "aria-label": options.label || "table rows",
  }, spacer);
  const empty = h("div", { class: "vt-empty", hidden: true });
  const element = h("div", { class: "vt", role: "grid", "aria-label": options.label || "table" },
    header, viewport, empty);
  container.appendChild(element);

  function drawHeader() {
    header.replaceChildren();
    for (const column of columns) {
      const sortable = column.sortable !== false;
      const sorted = sort && sort.key === column.key;
      const arrow = sorted ? (sort.descending ? " \u25BC" : " \u25B2") : "";
      const cell = sortable
        ? h("button", {
            class: "vt-th", type: "button", role: "columnheader",
            "aria-sort": sorted ? (sort.descending ? "descending" : "ascending") : "none",
            dataset: { key: column.key },
            onclick: () => setSort(column.key, sorted ? !sort.descending : false),
          }, column.title, arrow)
        : h("span", { class: "vt-th", role: "columnheader" }, column.title);
      header.appendChild(cell);
    }
  }

  function valueOf(column, row) {
    return column.value ? column.value(row) : row[column.key];
  }

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined || a === "") return 1; // blanks last either way
    if (b === null || b === undefined || b === "") return -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return collator.compare(String(a), String(b));
  }

  function sortNow() {
    needsSort = false;
    lastSortAt = performance.now();
    if (!sort) return;
    const column = columns.find((one) => one.key === sort.key);
    if (!column) return;
    const sign = sort.descending ? -1 : 1;
    const keyed = order.map((key) => ({ key, value: valueOf(column, byKey.get(key)) }));
    keyed.sort((a, b) => {
      const blankA = a.value === null || a.value === undefined || a.value === "";
      const blankB = b.value === null || b.value === undefined || b.value === "";
      if (blankA !== blankB) return blankA ? 1 : -1;
      return sign * compare(a.value, b.value) || compare(a.key, b.key);
    });
    order = keyed.map((item) => item.key);
  }

  function setSort(key, descending) {
    sort = key === null ? null : { key, descending: !!descending };
    drawHeader();
    sortNow();
    invalidate();
    if (options.onSort) options.onSort(sort);
  }

  function invalidate() {
    dirty = true;
    if (!frame && !destroyed) frame = requestAnimationFrame(draw);
  }

  function draw() {
    frame = 0;
    if (destroyed || !dirty) return;
    if (needsSort) {
      const wait = lastSortAt + RESORT_MS - performance.now();
      if (wait <= 0) sortNow();
      else if (!resortTimer) resortTimer = setTimeout(() => { resortTimer = 0; needsSort = true; invalidate(); }, wait);
    }
    dirty = false;
    if (!firstRowsMarked && order.length > 0) {
      firstRowsMarked = true; // the time to the first rows on screen, for the benchmarks
      performance.mark(`${markName}:first-rows`);
    }
    spacer.style.height = `${order.length * rowHeight}px`;
    element.setAttribute("aria-rowcount", String(order.length));
    const count = Math.ceil((viewport.clientHeight || 600) / rowHeight);
    const first = Math.max(0, Math.floor(viewport.scrollTop / rowHeight) - OVERSCAN);
    const last = Math.min(order.length, first + count + 2 * OVERSCAN);
    const keep = new Set();
    for (let index = first; index < last; index += 1) {
      const key = order[index];
      const row = byKey.get(key);
      keep.add(key);
      let entry = shown.get(key);
      if (!entry || entry.row !== row) {
        const built = buildRow(row, key);
        if (entry) entry.element.replaceWith(built);
        else spacer.appendChild(built);
        entry = { row, element: built, index: -1 };
        shown.set(key, entry);
      }
      if (entry.index !== index) {
        entry.index = index;
        entry.element.style.transform = `translateY(${index * rowHeight}px)`;
        entry.element.setAttribute("aria-rowindex", String(index + 2));
      }
      const active = key === activeKey;
      if (entry.element.classList.contains("active") !== active) {
        entry.element.classList.toggle("active", active);
        entry.element.setAttribute("aria-selected", String(active));
      }
    }
    for (const [key, entry] of shown) {
      if (!keep.has(key)) {
        entry.element.remove();
        shown.delete(key);
      }
    }
    const none = order.length === 0;
    empty.hidden = !none;
    if (none) empty.textContent = failure ? `Could not load: ${failure}` : loading ? "Loading..." : (options.emptyText || "Nothing to show");
    if (options.onStatus) options.onStatus({ count: order.length, loading, failure });
  }

  function buildRow(row, key) {
    const element = h("div", { class: "vt-row", role: "row", dataset: { key: String(key) } });
    element.style.gridTemplateColumns = template;
    element.style.height = `${rowHeight}px`;
    for (const column of columns) {
      const content = column.render ? column.render(row) : row[column.key];
      element.appendChild(h("div", { class: ["vt-td", column.className], role: "gridcell" }, content));
    }
    return element;
  }

  function indexOfKey(key) {
    return key === null ? -1 : order.indexOf(key);
  }

  function activate(index, scroll = true) {
    if (order.length === 0) return;
    const bounded = Math.max(0, Math.min(order.length - 1, index));
    activeKey = order[bounded];
    if (scroll) {
      const top = bounded * rowHeight;
      if (top < viewport.scrollTop) viewport.scrollTop = top;
      else if (top + rowHeight > viewport.scrollTop + viewport.clientHeight) {
        viewport.scrollTop = top + rowHeight - viewport.clientHeight;
      }
    }
    invalidate();
    if (options.onActive) options.onActive(byKey.get(activeKey));
  }

  viewport.addEventListener("scroll", invalidate, { passive: true });
  viewport.addEventListener("keydown", (event) => {
    const page = Math.max(1, Math.floor(viewport.clientHeight / rowHeight) - 1);
    const at = indexOfKey(activeKey);
    const moves = {
      ArrowDown: at + 1, ArrowUp: Math.max(0, at - 1), PageDown: at + page,
      PageUp: Math.max(0, at - page), Home: 0, End: order.length - 1,
    };
    if (event.key in moves) {
      event.preventDefault();
      activate(moves[event.key]);
    } else if (event.key === "Enter" && activeKey !== null && options.onOpen) {
      event.preventDefault();
      options.onOpen(byKey.get(activeKey));
    }
  });
  viewport.addEventListener("click", (event) => {
    const rowElement = event.target.closest(".vt-row");
    if (!rowElement || event.target.closest("button, a, input, select")) return;
    activate(order.indexOf(keyFromElement(rowElement)), false);
  });
  viewport.addEventListener("dblclick", (event) => {
    const rowElement = event.target.closest(".vt-row");
    if (rowElement && options.onOpen) options.onOpen(byKey.get(keyFromElement(rowElement)));
  });
  const resize = new ResizeObserver(() => {
    const height = heightNow();
    if (height !== rowHeight) {
      rowHeight = height;
      for (const entry of shown.values()) entry.element.remove();
      shown.clear();
    }
    invalidate();
  });
  resize.observe(viewport);

  function keyFromElement(rowElement) {
    for (const [key, entry] of shown) if (entry.element === rowElement) return key;
    return null;
  }

  // `order` holds the keys of the rows shown (those the filter keeps), `byKey` every row.
  const passes = (row) => !rowFilter || rowFilter(row);

  function refilter() {
    order = [...byKey.keys()].filter((key) => passes(byKey.get(key)));
    if (activeKey !== null && !passes(byKey.get(activeKey) || {})) activeKey = null;
    sortNow();
    invalidate();
  }

  function setRows(rows) {
    byKey.clear();
    for (const row of rows) byKey.set(rowKey(row), row);
    refilter();
  }

  function upsert(rows) {
    let dropped = false;
    const shownKeys = rowFilter ? new Set(order) : null;
    for (const row of rows) {
      const key = rowKey(row);
      const known = byKey.has(key);
      byKey.set(key, row);
      if (!rowFilter) {
        if (!known) order.push(key);
      } else if (passes(row)) {
        if (!shownKeys.has(key)) order.push(key);
      } else if (shownKeys.has(key)) {
        dropped = true;
      }
    }
    if (dropped) order = order.filter((key) => passes(byKey.get(key)));
    if (sort) needsSort = true;
    invalidate();
  }

  function remove(keys) {
    const gone = new Set(keys);
    if (gone.size === 0) return;
    for (const key of gone) byKey.delete(key);
    order = order.filter((key) => !gone.has(key));
    if (gone.has(activeKey)) activeKey = null;
    invalidate();
  }

  /** Show only the loaded rows `filter(row)` keeps (null: all of them). */
  function setFilter(filter) {
    rowFilter = filter || null;
    refilter();
  }

  async function load() {
    if (!options.fetchPage) return;
    const mine = ++generation;
    firstRowsMarked = false;
    loading = true;
    failure = null;
    setRows([]);
    let cursor = null;
    try {
      do {
        const page = await options.fetchPage(cursor);
        if (mine !== generation || destroyed) return;
        upsert(page.items);
        if (sort) sortNow();
        cursor = page.next;
        if (options.onPage) options.onPage({ count: order.length, done: !cursor });
      } while (cursor);
      if (mine === generation) performance.mark(`${markName}:loaded`);
    } catch (error) {
      if (mine === generation) failure = error.message || String(error);
    } finally {
      if (mine === generation) {
        loading = false;
        invalidate();
      }
    }
  }

  drawHeader();
  if (options.rows) setRows(options.rows);
  invalidate();
  const ready = load();

  return {
    element,
    ready,
    reload: load,
    setRows,
    upsert,
    remove,
    setSort,
    setFilter,
    get sort() { return sort; },
    get: (key) => byKey.get(key),
    rows: () => order.map((key) => byKey.get(key)),
    keys: () => [...order],
    active: () => (activeKey === null ? null : byKey.get(activeKey) || null),
    focus: () => viewport.focus(),
    destroy() {
      destroyed = true;
      generation += 1;
      if (frame) cancelAnimationFrame(frame);
      if (resortTimer) clearTimeout(resortTimer);
      resize.disconnect();
      element.remove();
    },
  };
}
