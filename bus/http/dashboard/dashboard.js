// dashboard.js - the gateway's live page: one snapshot of the metrics per
// interval from the SSE stream /v1/dashboard/stream; a topic's rates are
// the bus's own (its 1 s rates), a webhook's the difference of its counters
// between snapshots; each chart keeps the last minutes, seeded with the
// gateway's own (the first snapshot's "history", the samples it took since
// a dashboard first asked). A token (when the gateway has tokens) comes
// from ?token=.
"use strict";

const HISTORY_S = 300;
const MIN_SPAN_S = 10; // a short history fills the chart, down to this span
const history = new Map(); // key -> [{t, v}]
let previous = null;

function push(key, t, v) {
  let h = history.get(key);
  if (!h) history.set(key, (h = []));
  h.push({ t, v });
  while (h.length && h[0].t < t - HISTORY_S * 1000) h.shift();
  return h;
}

function rate(now, before, field, dt) {
  if (!before || dt <= 0) return 0;
  return Math.max(0, (now[field] - before[field]) / dt);
}

function fmtRate(r) {
  return r >= 1000 ? (r / 1000).toFixed(1) + "k" : r >= 10 ? r.toFixed(0) : r.toFixed(1);
}

function fmtNs(ns) {
  if (!ns) return "-";
  if (ns >= 1e9) return (ns / 1e9).toFixed(2) + " s";
  if (ns >= 1e6) return (ns / 1e6).toFixed(1) + " ms";
  if (ns >= 1e3) return (ns / 1e3).toFixed(0) + " \u00b5s";
  return ns + " ns";
}

function chart(points) {
  const c = document.createElement("canvas");
  c.width = 160;
  c.height = 28;
  const g = c.getContext("2d");
  const max = Math.max(1, ...points.map((p) => p.v));
  const last = points.length ? points[points.length - 1].t : 0;
  const first = points.length ? points[0].t : 0;
  const span = Math.min(HISTORY_S * 1000, Math.max(MIN_SPAN_S * 1000, last - first));
  g.strokeStyle = "#2f7dd1";
  g.lineWidth = 1.5;
  g.beginPath();
  points.forEach((p, i) => {
    const x = c.width - ((last - p.t) / span) * c.width;
    const y = c.height - 2 - (p.v / max) * (c.height - 4);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke();
  c.title = "max " + fmtRate(max) + "/s over " + Math.round(span / 1000) + " s";
  c.dataset.points = points.length;
  return c;
}

function cell(row, content, cls) {
  const td = row.insertCell();
  if (content instanceof Node) td.appendChild(content);
  else td.textContent = content;
  if (cls) td.className = cls;
  return td;
}

function depthBar(depth, capacity) {
  const span = document.createElement("span");
  const bar = document.createElement("span");
  const fill = document.createElement("i");
  const share = capacity ? depth / capacity : 0;
  bar.className = share > 0.8 ? "bar hot" : "bar";
  fill.style.width = Math.min(100, share * 100).toFixed(1) + "%";
  bar.appendChild(fill);
  span.appendChild(bar);
  span.appendChild(document.createTextNode(depth + " / " + (capacity || "?")));
  return span;
}

function renderTopics(snap) {
  const body = document.querySelector("#topics tbody");
  body.textContent = "";
  for (const t of snap.metrics.topics) {
    if (t.name.startsWith("bus.") && !t.published) continue; // the bus's own, idle
    const pub = t.publish_rate_1s;
    const del = t.deliver_rate_1s;
    const row = body.insertRow();
    row.dataset.topic = t.name;
    cell(row, t.name, "text");
    cell(row, fmtRate(pub), "num publish-rate");
    cell(row, fmtRate(del), "num deliver-rate");
    cell(row, chart(push("topic:" + t.name, snap.time_ms, pub)));
    cell(row, depthBar(t.depth, snap.capacity[t.name]), "num");
    cell(row, fmtNs(t.wait.p99_ns), "num");
    cell(row, fmtNs(t.handler.p99_ns), "num");
    cell(row, t.dropped, t.dropped ? "num bad" : "num");
    cell(row, t.handler_errors, t.handler_errors ? "num bad" : "num");
    cell(row, t.dead_lettered, t.dead_lettered ? "num bad" : "num");
  }
}

function renderWebhooks(snap, dt) {
  const body = document.querySelector("#webhooks tbody");
  body.textContent = "";
  const before = new Map((previous ? previous.webhooks.webhooks : []).map((h) => [h.id, h]));
  for (const h of snap.webhooks.webhooks) {
    const r = rate(h, before.get(h.id), "delivered", dt);
    const row = body.insertRow();
    row.dataset.webhook = h.id;
    cell(row, h.id, "text");
    cell(row, h.pattern, "text");
    cell(row, h.url, "text");
    cell(row, h.state, "text state-" + h.state);
    cell(row, fmtRate(r), "num");
    cell(row, chart(push("hook:" + h.id, snap.time_ms, r)));
    cell(row, h.delivered, "num");
    cell(row, h.failed, h.failed ? "num bad" : "num");
    cell(row, h.pending, "num");
    cell(row, h.last_error || "", "text");
  }
}

// The gateway's samples, oldest first: topics' rates as they are, webhooks'
// from the difference of their delivered counts; the last one becomes
// `previous`, so that the first live snapshot has a webhook rate too.
function seed(samples) {
  let before = null;
  for (const s of samples) {
    for (const [name, [pub]] of Object.entries(s.topics)) push("topic:" + name, s.time_ms, pub);
    const dt = before ? (s.time_ms - before.time_ms) / 1000 : 0;
    for (const [id, delivered] of Object.entries(s.webhooks)) {
      const was = before && id in before.webhooks ? { delivered: before.webhooks[id] } : null;
      if (was) push("hook:" + id, s.time_ms, rate({ delivered }, was, "delivered", dt));
    }
    before = s;
  }
  if (before) {
    const hooks = Object.entries(before.webhooks).map(([id, delivered]) => ({ id, delivered }));
    previous = { time_ms: before.time_ms, webhooks: { webhooks: hooks } };
  }
}

function render(snap) {
  const dt = previous ? (snap.time_ms - previous.time_ms) / 1000 : 0;
  renderTopics(snap);
  renderWebhooks(snap, dt);
  const topics = snap.metrics.topics.filter((t) => !t.name.startsWith("bus."));
  document.getElementById("totals").textContent =
    topics.length + " topics, " + snap.webhooks.webhooks.length + " webhooks, updated " +
    new Date(snap.time_ms).toLocaleTimeString();
  previous = snap;
}

function connect() {
  const status = document.getElementById("status");
  const token = new URLSearchParams(location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  // The first snapshot before the page counts as loaded (a synchronous
  // request, once): the page is readable at its first paint, and a page
  // saved at its load event (headless --dump-dom) holds data.
  const first = new XMLHttpRequest();
  first.open("GET", "v1/dashboard/snapshot" + query, false);
  try {
    first.send();
    if (first.status === 200) {
      const snap = JSON.parse(first.responseText);
      seed(snap.history || []);
      render(snap);
    }
  } catch (e) {
    // the stream below says whether the gateway answers
  }
  const source = new EventSource("v1/dashboard/stream" + query);
  source.onopen = () => {
    status.textContent = "live";
    status.className = "status live";
  };
  source.onmessage = (e) => render(JSON.parse(e.data));
  source.onerror = () => {
    status.textContent = "reconnecting";
    status.className = "status down";
  };
}

connect();
