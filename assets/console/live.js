// The live feed (GET /ws) for the views: one socket per page, authenticated by the session
// cookie. Views subscribe to topics; the socket asks the server for the union of what is
// wanted and allowed, resumes from the last sequence number after a reconnect, and tells
// the views to reload when the server could not replay what they missed.

const listeners = new Map(); // topic -> Set(fn)
let socket = null;
let allowed = [];
let position = null; // {epoch, seq}
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

function connect() {
  if (stopped) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  setState("connecting", "warn");
  socket = new WebSocket(url);
  socket.onmessage = (m) => {
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
      if (msg.gap) for (const t of msg.topics) deliver(t, { gap: true });
      position = { epoch: msg.epoch, seq: msg.seq };
    } else if (msg.type === "event") {
      position = { epoch: msg.epoch, seq: msg.seq };
      deliver(msg.topic, msg);
    } else if (msg.type === "dropped" || msg.type === "error") {
      console.warn("live feed:", msg);
    }
  };
  socket.onclose = () => {
    socket = null;
    if (stopped) return;
    setState("reconnecting", "bad");
    clearTimeout(timer);
    timer = setTimeout(connect, retry);
    retry = Math.min(retry * 2, 15000);
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
  position = null;
  clearTimeout(timer);
  if (socket) socket.close(1000, "logout");
  socket = null;
  setState("offline", "neutral");
}

/** Whether the user may follow a topic (known once the socket said hello). */
export const mayFollow = (topic) => allowed.includes(topic);

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
