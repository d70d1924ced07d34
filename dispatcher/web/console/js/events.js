// The farm's change events, from one EventSource on /api/v1/events shared by every
// page. Events are gathered and handed out once per animation frame (a batch: an
// array), so a thousand chunk updates a second cost one redraw a frame, not a thousand.
// A dropped stream is opened again from the last event seen (Last-Event-ID), unless the
// session is gone: an EventSource does not tell why it failed, so one authenticated
// request asks, and its 401 brings up the login form (api.js) instead of a retry.

import { api } from "./api.js";

const KINDS = ["job", "chunk", "node", "account", "system", "progress", "node_state", "missed"];
const RETRY_MS = 2000;
const HIDDEN_FLUSH_MS = 250; // animation frames stop in a background tab

const subscribers = new Set();
let source = null;
let lastEventId = null;
let pending = [];
let scheduled = false;
let retryTimer = null;
let connected = null;
const statusListeners = new Set();

/** subscribe({kinds, job, node}, onBatch) -> unsubscribe. Each filter is one value or a
 * list; `kinds` matches an event's type (job, chunk, progress, ...) or its action. */
export function subscribe(filter, onBatch) {
  const subscriber = { filter: normalise(filter || {}), onBatch };
  subscribers.add(subscriber);
  open();
  return () => {
    subscribers.delete(subscriber);
    if (subscribers.size === 0) close();
  };
}

/** onStatus(fn): fn(true | false | null) when the stream connects, drops, or closes
 * because no page follows events; -> unsubscribe. */
export function onStatus(listener) {
  statusListeners.add(listener);
  listener(connected);
  return () => statusListeners.delete(listener);
}

/** Close the stream (on logout). */
export function closeEvents() {
  subscribers.clear();
  close();
  lastEventId = null;
}

function normalise(filter) {
  const set = (value) => (value === undefined || value === null ? null
    : new Set((Array.isArray(value) ? value : [value]).map(String)));
  return { kinds: set(filter.kinds), job: set(filter.job), node: set(filter.node) };
}

function matches(filter, event) {
  if (event.type === "missed") return true; // everyone reloads
  if (filter.kinds && !filter.kinds.has(event.type) && !filter.kinds.has(event.action)) return false;
  if (filter.job) {
    const jobs = event.jobs || (event.job !== undefined && event.job !== null ? [event.job] : []);
    if (!jobs.some((id) => filter.job.has(String(id)))) return false;
  }
  if (filter.node) {
    const nodes = event.nodes || (event.node !== undefined ? [event.node] : []);
    if (!nodes.some((id) => filter.node.has(String(id)))) return false;
  }
  return true;
}

function setConnected(value) {
  if (connected === value) return;
  connected = value;
  for (const listener of statusListeners) listener(value);
}

function open() {
  if (source || retryTimer) return;
  const url = lastEventId === null ? "/api/v1/events"
    : `/api/v1/events?last_event_id=${encodeURIComponent(lastEventId)}`;
  source = new EventSource(url, { withCredentials: true });
  source.onopen = () => setConnected(true);
  source.onerror = () => {
    setConnected(false);
    if (source && source.readyState === EventSource.CLOSED) {
      // The browser gave up (an error status, such as 401 or 503): try again later,
      // from the last event seen.
      source = null;
      if (subscribers.size > 0) retryTimer = setTimeout(retry, RETRY_MS);
    }
  };
  for (const kind of KINDS) source.addEventListener(kind, receive);
}

async function retry() {
  // retryTimer stays set while asking, so a new subscriber does not open meanwhile.
  if (await sessionGone()) {
    retryTimer = null;
    return; // the login form is up (it closed the stream); a new login subscribes again
  }
  retryTimer = null;
  if (subscribers.size > 0) open();
}

/** Whether the dispatcher refuses the session (401): any other failure (a dispatcher
 * restarting, a network gone) is worth another try. */
async function sessionGone() {
  try {
    await api("/api/v1/status");
    return false;
  } catch (error) {
    return error.status === 401;
  }
}

function close() {
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
  setConnected(null);
}

function receive(message) {
  if (message.lastEventId) lastEventId = message.lastEventId;
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  pending.push(event);
  schedule();
}

function schedule() {
  if (scheduled) return;
  scheduled = true;
  if (document.hidden) setTimeout(flush, HIDDEN_FLUSH_MS);
  else requestAnimationFrame(flush);
}

function flush() {
  scheduled = false;
  const batch = pending;
  pending = [];
  for (const subscriber of [...subscribers]) {
    const mine = batch.filter((event) => matches(subscriber.filter, event));
    if (mine.length === 0) continue;
    try {
      subscriber.onBatch(mine);
    } catch (error) {
      console.error("an event subscriber failed", error);
    }
  }
}
