// Time-series charts with uPlot (vendored, global `uPlot`): an object's CPU, memory and
// network over realtime, hourly or daily samples from GET /api/:collection/:id/metrics.

import { get } from "./api.js";
import { h, clear, failure, bytes } from "./ui.js";

const INTERVALS = [
  ["realtime", "Realtime (last hour)"],
  ["hourly", "Hourly (last day)"],
  ["daily", "Daily (30 days)"],
];

function colour(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** One line chart of `ys` over `xs` (unix seconds); `range` fixes the time axis
 *  ([from, to] seconds), so a few samples are shown in the span asked for. */
export function lineChart(title, xs, ys, format, width, range) {
  const box = h("figure", { class: "chart" }, h("figcaption", {}, title));
  if (typeof uPlot === "undefined") {
    box.append(h("p", { class: "failure" }, "The chart library did not load."));
    return box;
  }
  const fg = colour("--muted", "#888");
  const grid = colour("--line", "#ddd");
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
  const opts = {
    width: width || 420,
    height: 180,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: range ? { time: true, range: () => range } : { time: true } },
    axes: [axis, { ...axis, size: 70, values: (u, splits) => splits.map((v) => format(v)) }],
    series: [{}, { label: title, stroke: colour("--accent", "#2f6fde"), width: 2, fill: colour("--accent-soft", "rgba(47,111,222,.12)"), value: (u, v) => (v === null ? "—" : format(v)) }],
  };
  // uPlot measures the box; give it a moment in the document.
  requestAnimationFrame(() => {
    // eslint-disable-next-line no-undef
    new uPlot(opts, [xs, ys], box);
  });
  return box;
}

const percent = (v) => `${Number(v).toFixed(v < 10 ? 1 : 0)} %`;
const cores = (v) => `${Number(v).toFixed(v < 1 ? 2 : 1)}`;
const rate = (v) => `${Number(v).toFixed(v < 10 ? 1 : 0)} KB/s`;

/** A panel of charts for one object, with a choice of interval. */
export function metricsPanel(collection, id, initial = "realtime") {
  const body = h("div", { class: "charts" });
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const panel = h("section", { class: "card metrics" }, h("h2", {}, "Utilization"), tabs, body);
  async function show(interval) {
    clear(
      tabs,
      INTERVALS.map(([name, label]) =>
        h("button", { type: "button", role: "tab", class: "tab", "aria-selected": String(name === interval), onclick: () => show(name) }, label),
      ),
    );
    clear(body, h("p", { class: "loading" }, "Loading samples…"));
    try {
      const answer = await get(`/api/${collection}/${id}/metrics?interval=${interval}`);
      const samples = answer.samples || [];
      if (samples.length === 0) {
        clear(body, h("p", { class: "empty" }, `No ${interval} samples yet. Metrics need the provider's Prometheus and the metrics roles; samples appear within minutes of the first capture.`));
        return;
      }
      const xs = samples.map((s) => new Date(s.timestamp).getTime() / 1000);
      const pick = (k) => samples.map((s) => (s[k] === null || s[k] === undefined ? null : Number(s[k])));
      const width = Math.max(280, Math.min(520, (body.clientWidth || 900) / 3 - 16));
      const range = [new Date(answer.start).getTime() / 1000, new Date(answer.end).getTime() / 1000];
      const charts = [];
      const cpuPct = pick("cpu_usage_rate_average");
      if (cpuPct.some((v) => v !== null)) charts.push(lineChart("CPU usage (%)", xs, cpuPct, percent, width, range));
      else charts.push(lineChart("CPU (cores)", xs, pick("cpu_usage_cores"), cores, width, range));
      charts.push(lineChart("Memory", xs, pick("mem_usage_bytes"), bytes, width, range));
      charts.push(lineChart("Network", xs, pick("net_usage_rate_average"), rate, width, range));
      clear(body, charts, h("p", { class: "muted small" }, `${samples.length} samples, ${new Date(answer.start).toLocaleString()} – ${new Date(answer.end).toLocaleString()}`));
    } catch (err) {
      clear(body, failure(err, () => show(interval)));
    }
  }
  show(initial);
  return panel;
}
