// The live feed for the views: one socket per page, to the live feed's own listener (its
// URL comes from GET /api: the page's host at the listener's port), authenticated by the
// session cookie. Views subscribe to topics; the socket asks the server for the union of
// what is wanted and allowed, resumes from the last sequence number after a reconnect, and
// tells the views to reload when the server could not replay what they missed.

import * as api from "./api.js";

const listeners = new Map(); // topic -> Set(fn)
let socket = null;
let feedUrl = null; // the live feed's URL, once GET /api said it
let generation = 0; // bumped by stop(): a connect() begun before it gives up
let allowed = [];
let position = null; // {epoch, seq}
let following = new Set(); // the topics the server confirmed
let retry = 500;
let timer = null;
let stopped = true;

function setState(text, kind) {
  const el = document.getElementById("live-state");
  if (!el) return;
  el.textContent = text;
  el.dataset.state = kind;
}

function wanted() {
  return [...listeners.keys()].filter((t) => listeners.get(t).size > 0 && allowed.includes(t));
}

function sendSubscribe() {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  const msg = { type: "subscribe", topics: wanted() };
  if (position) msg.since = position;
  socket.send(JSON.stringify(msg));
}

function deliver(topic, event) {
  for (const fn of listeners.get(topic) || []) {
    try {
      fn(event);
    } catch (e) {
      console.error("live listener failed", e);
    }
  }
}

function retryLater() {
  setState("reconnecting", "bad");
  clearTimeout(timer);
  timer = setTimeout(connect, retry);
  retry = Math.min(retry * 2, 15000);
}

async function connect() {
  if (stopped) return;
  const mine = generation;
  setState("connecting", "warn");
  if (!feedUrl) {
    let entry = null;
    try {
      entry = await api.get("/api");
    } catch (_) {
      entry = null;
    }
    if (stopped || mine !== generation) return;
    if (!entry) return retryLater();
    if (!entry.live_feed) {
      setState("not served by this node", "neutral");
      return;
    }
    feedUrl = entry.live_feed.href;
  }
  let ws;
  try {
    ws = new WebSocket(feedUrl);
  } catch (e) {
    console.warn("live feed:", e);
    return retryLater();
  }
  socket = ws;
  ws.onmessage = (m) => {
    if (ws !== socket) return; // a socket stop() let go of
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch (_) {
      return;
    }
    if (msg.type === "hello") {
      allowed = msg.topics || [];
      if (position && position.epoch !== msg.epoch) position = null;
      retry = 500;
      setState("live", "good");
      sendSubscribe();
    } else if (msg.type === "subscribed") {
      // What was missed, and what happened to a newly followed topic between the view's
      // first load and this subscription, the views load again.
      for (const t of msg.topics) if (msg.gap || !following.has(t)) deliver(t, { gap: true });
      following = new Set(msg.topics);
      position = { epoch: msg.epoch, seq: msg.seq };
    } else if (msg.type === "event") {
      position = { epoch: msg.epoch, seq: msg.seq };
      deliver(msg.topic, msg);
    } else if (msg.type === "dropped" || msg.type === "error") {
      console.warn("live feed:", msg);
    }
  };
  ws.onclose = () => {
    if (ws !== socket) return;
    socket = null;
    following = new Set();
    if (stopped) return;
    retryLater();
  };
}

/** Starts the feed (after login). */
export function start() {
  if (!stopped) return;
  stopped = false;
  connect();
}

/** Stops the feed (logout). */
export function stop() {
  stopped = true;
  generation += 1;
  position = null;
  following = new Set();
  clearTimeout(timer);
  if (socket) socket.close(1000, "logout");
  socket = null;
  setState("offline", "neutral");
}

/** Whether the user may follow a topic (known once the socket said hello). */
export const mayFollow = (topic) => allowed.includes(topic);

/** Whether the topic's events arrive now: the socket is open and the topic allowed. */
export const isLive = (topic) => !!socket && socket.readyState === WebSocket.OPEN && mayFollow(topic);

/** Calls fn(event) for each event of the topic (fn({gap: true}) after a gap) until the
 *  returned function is called. */
export function follow(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  const set = listeners.get(topic);
  const before = set.size;
  set.add(fn);
  if (before === 0) sendSubscribe();
  return () => {
    set.delete(fn);
    if (set.size === 0) sendSubscribe();
  };
}
