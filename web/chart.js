// The version distribution over time, drawn as SVG by our own code: one
// stacked bar per day, one colour class per version (app.css .series-N).
// No inline style: geometry goes in SVG attributes, colours in classes, so
// the page's CSP (style-src 'self') has nothing to refuse.

const SVG = "http://www.w3.org/2000/svg";
export const SERIES_CLASSES = 8; // .series-0 ... .series-7 in app.css; more versions share them

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// The versions of HISTORY ({"days": [{"day", "versions": [{"version", "devices"}]}]}),
// the most widespread first: the first ones get the distinct colours.
export function versionsOf(history) {
  const total = new Map();
  for (const day of history.days || [])
    for (const v of day.versions || [])
      total.set(v.version, (total.get(v.version) || 0) + (v.devices || 0));
  return [...total.entries()].sort((a, b) => b[1] - a[1]).map(([v]) => v);
}

// An <svg> of HISTORY, with a <title> per bar segment (the numbers on hover)
// and an accessible description. Returns the element; an empty history draws
// an empty frame with a line that says so.
export function versionChart(history, { width = 720, height = 240 } = {}) {
  const days = history.days || [];
  const versions = versionsOf(history);
  const pad = { left: 40, right: 8, top: 8, bottom: 24 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": `Devices by version over ${days.length} days`,
    preserveAspectRatio: "xMidYMid meet",
  });
  root.append(svg("title", {}, "Devices by version per day"));
  const max = Math.max(1, ...days.map((d) => (d.versions || []).reduce((s, v) => s + (v.devices || 0), 0)));
  // Axis and three grid lines with their counts.
  for (const f of [0, 0.5, 1]) {
    const y = pad.top + plotH - f * plotH;
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "gridline" }));
    const count = f * max; // a half of a small count is no count of devices: no label
    if (Number.isInteger(count) || max >= 10)
      root.append(svg("text", { x: pad.left - 4, y: y + 4, class: "axis", "text-anchor": "end" }, String(Math.round(count))));
  }
  if (!days.length) {
    root.append(svg("text", { x: width / 2, y: height / 2, class: "axis", "text-anchor": "middle" }, "no check-ins recorded yet"));
    return root;
  }
  const slot = plotW / days.length;
  const barW = Math.max(1, slot * 0.8);
  days.forEach((day, i) => {
    const x = pad.left + i * slot + (slot - barW) / 2;
    let y = pad.top + plotH;
    const counts = new Map((day.versions || []).map((v) => [v.version, v.devices || 0]));
    versions.forEach((version, vi) => {
      const n = counts.get(version) || 0;
      if (!n) return;
      const h = (n / max) * plotH;
      y -= h;
      const rect = svg("rect", { x: x.toFixed(2), y: y.toFixed(2), width: barW.toFixed(2), height: h.toFixed(2), class: `series-${vi % SERIES_CLASSES}` });
      rect.append(svg("title", {}, `${day.day}: ${version} on ${n} device${n === 1 ? "" : "s"}`));
      root.append(rect);
    });
    // A date under the first, the last and about every seventh bar.
    if (i === 0 || i === days.length - 1 || (days.length > 10 && i % 7 === 0 && i < days.length - 3))
      root.append(svg("text", { x: (x + barW / 2).toFixed(2), y: height - 6, class: "axis", "text-anchor": "middle" }, day.day.slice(5)));
  });
  return root;
}

// The legend of versionChart: a list whose swatches carry the same classes.
export function chartLegend(history) {
  const ul = document.createElement("ul");
  ul.className = "legend";
  versionsOf(history).forEach((version, vi) => {
    const li = document.createElement("li");
    const swatch = svg("svg", { width: 12, height: 12, viewBox: "0 0 12 12", "aria-hidden": "true" });
    swatch.append(svg("rect", { width: 12, height: 12, rx: 2, class: `series-${vi % SERIES_CLASSES}` }));
    li.append(swatch, document.createTextNode(" " + version));
    ul.append(li);
  });
  return ul;
}
