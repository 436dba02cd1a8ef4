// Traffic graphs from the cumulative statistics: each poll adds a sample, rates come from consecutive samples.

import { h, mount } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const KEEP = 90; // samples on screen
const W = 560;
const H = 150;
const PAD = { left: 46, right: 8, top: 10, bottom: 18 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  el.append(...children);
  return el;
}

export function humanBytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${Number.isInteger(n) || n >= 10 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

function chart(id, title, series, format) {
  const values = series.flatMap((line) => line.points.map((p) => p[1]));
  const top = Math.max(1, ...values);
  const t0 = Math.min(...series.flatMap((line) => line.points.map((p) => p[0])), Date.now());
  const span = Math.max(1, Date.now() - t0);
  const x = (t) => PAD.left + ((t - t0) / span) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const svg = s("svg", { class: "graph", id, viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none",
    "data-max": String(Math.max(0, ...values)) });
  for (const frac of [0, 0.5, 1]) {
    const yy = y(top * frac);
    svg.append(s("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: yy, y2: yy }),
      s("text", { x: 4, y: yy + 3 }, format(top * frac)));
  }
  for (const line of series) {
    if (!line.points.length) continue;
    svg.append(s("polyline", { fill: "none", stroke: line.colour, "stroke-width": "2", "data-series": line.key,
      "data-points": String(line.points.length),
      points: line.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
  }
  const legend = h("div", { class: "legend" }, series.map((line) =>
    h("span", {}, h("i", { style: `background:${line.colour}` }), line.label)));
  return h("div", {}, h("h2", {}, title), legend, svg);
}

export class TrafficGraph {
  constructor() {
    this.samples = [];
    this.el = h("div", { id: "traffic" });
  }

  add(stats) {
    this.samples.push({ t: Date.now(), ...stats });
    if (this.samples.length > KEEP + 1) this.samples.shift();
    this.render();
  }

  rates(key) {
    const out = [];
    for (let i = 1; i < this.samples.length; i += 1) {
      const a = this.samples[i - 1];
      const b = this.samples[i];
      const seconds = Math.max(0.001, (b.t - a.t) / 1000);
      out.push([b.t, Math.max(0, (b[key] - a[key]) / seconds)]); // counters reset on failover: never negative
    }
    return out;
  }

  render() {
    const last = this.samples[this.samples.length - 1] || {};
    const total = (key, label, fmt) => h("div", { id: `total-${key}`, dataset: { value: String(last[key] ?? 0) } },
      label, h("b", {}, fmt(last[key] ?? 0)));
    const plain = (n) => String(Math.round(n));
    mount(this.el,
      h("div", { class: "totals" },
        total("bytes_in", "Bytes in", humanBytes), total("bytes_out", "Bytes out", humanBytes),
        total("total_connections", "Connections (total)", plain),
        total("active_connections", "Active connections", plain),
        total("request_errors", "Request errors", plain)),
      h("div", { class: "grid2" },
        chart("graph-bytes", "Bytes per second", [
          { key: "bytes_in", label: "in", colour: "#2457c5", points: this.rates("bytes_in") },
          { key: "bytes_out", label: "out", colour: "#12b76a", points: this.rates("bytes_out") }],
        (v) => `${humanBytes(v)}/s`),
        chart("graph-connections", "Connections", [
          { key: "total_connections", label: "new per second", colour: "#7a5af8",
            points: this.rates("total_connections") },
          { key: "active_connections", label: "active", colour: "#f79009",
            points: this.samples.slice(1).map((p) => [p.t, p.active_connections]) }],
        (v) => v.toFixed(v < 10 ? 1 : 0))));
  }
}
