// A small SVG line chart: a series over time with dashed limit lines. Written here instead of a
// charting library so the dashboard stays a few kilobytes and works with no network at all.
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const LIMIT_COLOURS = {yellow: "#c9a400", orange: "#e07000", red: "#d7263d"};

function lineChart(points, limits, unit, fmt) {
  // points: [[ms, value]...] sorted; limits: [{value, grade}]
  const W = 360, H = 170, L = 38, R = 8, T = 8, B = 22;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  const el = (name, attrs, text) => {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  };
  const values = points.map(p => p[1]).filter(v => v !== null && isFinite(v));
  if (!values.length) {
    el("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "–");
    return svg;
  }
  const shown = limits.filter(l => isFinite(l.value));
  let lo = Math.min(...values, ...shown.map(l => l.value)), hi = Math.max(...values, ...shown.map(l => l.value));
  if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const t0 = points[0][0], t1 = Math.max(points[points.length - 1][0], t0 + 1);
  const x = ms => L + (W - L - R) * (ms - t0) / (t1 - t0);
  const y = v => T + (H - T - B) * (hi - v) / (hi - lo);
  el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc", stroke: "#d8dde3"});
  for (const v of [lo + pad, (lo + hi) / 2, hi - pad]) {
    el("text", {x: L - 3, y: y(v) + 3, "text-anchor": "end"}, fmt(v));
  }
  for (const l of shown) {
    el("line", {x1: L, x2: W - R, y1: y(l.value), y2: y(l.value), stroke: LIMIT_COLOURS[l.grade] || "#888",
      "stroke-dasharray": "5 3", "stroke-width": 1.2});
  }
  const path = points.filter(p => p[1] !== null && isFinite(p[1])).map(p => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
  el("polyline", {points: path.join(" "), fill: "none", stroke: "#1f5fa8", "stroke-width": 1.6});
  const time = ms => new Date(ms).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hour12: false});
  el("text", {x: L, y: H - 6}, time(t0));
  el("text", {x: W - R, y: H - 6, "text-anchor": "end"}, time(t1) + (unit ? "  " + unit : ""));
  svg.setAttribute("aria-label", `${values.length} points, ${fmt(Math.min(...values))} – ${fmt(Math.max(...values))} ${unit || ""}`);
  return svg;
}
