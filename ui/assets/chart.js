// Interactive charts: one graph drawn in the page with uPlot from GET /api/v1/chart, which
// answers std.json's values plus the colors, styles, axes and legend statistics the PNG
// renderer picks, so a panel looks the same as its PNG. Features: crosshair with every
// line's value in the legend, drag to zoom (the caller decides what a zoom means: new
// s/e in the URL), click a legend row to hide a line, stacked and filled areas, one scale
// per Y axis in the axis' color.
"use strict";

// Metric-prefix formatting, as the PNG's tick labels and legend stats.
function fmt(v) {
  if (v === null || v === undefined || v === "NaN" || Number.isNaN(v)) return "NaN";
  if (typeof v === "string") return v;
  const a = Math.abs(v);
  const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""], [1e-3, "m"], [1e-6, "u"]];
  if (a === 0) return "0";
  // Trailing zeros go only after a decimal point: 280 must stay 280.
  const trim = (t) => (t.includes(".") ? t.replace(/0+$/, "").replace(/\.$/, "") : t);
  for (const [f, p] of units) if (a >= f) return trim((v / f).toPrecision(3)) + p;
  return v.toExponential(2);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") node.addEventListener("click", v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// Time text of epoch ms in `tz` ("2026-01-02 13:45"), for the legend's cursor column.
function timeText(ms, tz) {
  try {
    const d = uPlot.tzDate(new Date(ms), tz || "UTC");
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes());
  } catch (_) {
    return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  }
}

// uPlot's scale distribution for our axis scales: log needs positive ranges.
function scaleOf(axis) {
  const s = { auto: false, range: () => [axis.min, axis.max] };
  if (axis.scale === "log" && axis.min > 0) s.distr = 3;
  if (!(Number.isFinite(axis.min) && Number.isFinite(axis.max)) || axis.min === axis.max) {
    s.auto = true;
    delete s.range;
  }
  return s;
}

// Lines listed in the cursor's tooltip; all of them are in the legend.
const TIP_LINES = 12;

const SextantChart = {
  // Draws `data` (an /api/v1/chart answer) into `box` at `width` x `height` pixels of plot.
  // `legend` is a <table> whose body gets one row per line; opts.onZoom(startMs, endMs) is
  // called after a drag. Returns { plot, destroy }.
  draw(box, legend, data, width, height, opts) {
    opts = opts || {};
    box.replaceChildren();
    const lines = data.lines || [];
    const n = lines.length ? lines[0].values.length : Math.max(0, Math.round((data.end - data.start) / data.step));
    const xs = new Array(n);
    for (let i = 0; i < n; i++) xs[i] = (data.start + i * data.step) / 1000;
    const theme = data.theme;
    box.style.background = theme.canvas;
    for (const note of data.notices || []) box.append(el("div", { class: "notice" }, note));

    // Stacked lines are drawn at the top of their band; hover and legend show own values.
    const plotted = [xs];
    const series = [{ value: (u, v) => (v == null ? "" : timeText(v * 1000, data.timezone)) }];
    const bands = [];
    const lastStack = {};
    lines.forEach((l, i) => {
      const stacked = l.style === "stack" && l.top;
      const span = l.style === "vspan";
      // A span shades the full height where the line is non-zero: 1 on a 0..1 scale of its own.
      plotted.push(stacked ? l.top : span ? l.values.map((v) => (v !== null && v !== 0 ? 1 : null)) : l.values);
      const s = {
        label: l.label,
        stroke: l.color,
        // CSS pixels, as the PNG's; uPlot scales them for high-density screens.
        width: Math.max(0.5, l.width),
        scale: span ? "vspan" : "y" + l.axis,
        points: { show: false },
        spanGaps: false,
      };
      if (l.style === "area" || l.style === "stack" || span) {
        s.fill = l.color;
        if (span) s.width = 0;
      }
      if (stacked) {
        const below = lastStack[l.axis];
        if (below !== undefined) bands.push({ series: [i + 1, below + 1], fill: l.color });
        lastStack[l.axis] = i;
      }
      series.push(s);
    });
    const scales = { x: { time: true }, vspan: { auto: false, range: [0, 1] } };
    const axes = [{
      stroke: theme.text,
      space: 70,
      // 24-hour clock as the PNG's time axis, with the date where the day changes.
      values: (u, splits) => splits.map((v, i) => {
        const t = timeText(v * 1000, data.timezone);
        const prev = i > 0 ? timeText(splits[i - 1] * 1000, data.timezone) : "";
        return prev.slice(0, 10) === t.slice(0, 10) ? t.slice(11) : t.slice(11) + "\n" + t.slice(5, 10);
      }),
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1 },
    }];
    const multi = data.axes.length > 1;
    for (const a of data.axes) {
      scales["y" + a.index] = scaleOf(a);
      axes.push({
        scale: "y" + a.index,
        side: a.left ? 3 : 1,
        stroke: multi ? a.color : theme.text,
        grid: { show: a.left, stroke: theme.grid, width: 1 },
        ticks: { stroke: theme.grid, width: 1 },
        label: a.label || undefined,
        values: (u, ticks) => ticks.map(fmt),
        size: 60,
      });
    }
    // Lines on axes the server did not list (none expected) still get a scale.
    for (const l of lines) if (!scales["y" + l.axis]) scales["y" + l.axis] = { auto: true };

    const rows = [];
    const tip = el("div", { class: "chart-tip", hidden: "" });
    const plot = new uPlot({
      width,
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), data.timezone || "UTC"),
      series,
      bands,
      scales,
      axes,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      hooks: {
        setCursor: [(u) => {
          const idx = u.cursor.idx;
          const head = legend && legend.querySelector("th.cursor-time");
          if (head) head.textContent = idx == null ? "Value" : timeText(xs[idx] * 1000, data.timezone);
          rows.forEach((row, i) => {
            const v = idx == null ? null : lines[i].values[idx];
            row.cells[1].textContent = idx == null ? "" : fmt(v === null ? NaN : v);
          });
          showTip(u, idx);
        }],
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const from = u.posToVal(u.select.left, "x") * 1000;
          const to = u.posToVal(u.select.left + u.select.width, "x") * 1000;
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          if (opts.onZoom) opts.onZoom(Math.floor(from), Math.ceil(to));
        }],
      },
    }, plotted, box);
    // A tooltip at the cursor: the time and the visible lines' values, largest first.
    function showTip(u, idx) {
      if (idx == null || u.cursor.left < 0 || !lines.length) { tip.hidden = true; return; }
      const shown = lines.map((l, i) => [l, l.values[idx], i])
        .filter(([, v, i]) => u.series[i + 1].show && v !== null)
        .sort((a, b) => b[1] - a[1]);
      tip.replaceChildren(el("div", { class: "tip-time" }, timeText(xs[idx] * 1000, data.timezone)));
      for (const [l, v] of shown.slice(0, TIP_LINES)) {
        tip.append(el("div", {}, el("span", { class: "swatch", style: "background:" + l.color }), fmt(v) + "  " + l.label));
      }
      if (shown.length > TIP_LINES) tip.append(el("div", {}, "... " + (shown.length - TIP_LINES) + " more in the legend"));
      tip.hidden = false;
      const over = u.over.getBoundingClientRect();
      const left = u.cursor.left + 16;
      tip.style.left = (left + tip.offsetWidth > over.width ? u.cursor.left - tip.offsetWidth - 16 : left) + "px";
      tip.style.top = Math.max(0, u.cursor.top - tip.offsetHeight / 2) + "px";
    }
    plot.over.append(tip);
    if (lines.length === 0) box.prepend(el("div", { class: "nodata" }, "NO DATA"));
    // Text drawn by uPlot (axis labels) follows the theme.
    plot.root.style.color = theme.text;

    if (legend) {
      const body = legend.tBodies[0];
      body.replaceChildren();
      lines.forEach((l, i) => {
        const st = l.stats || {};
        const row = el("tr", { "data-line": String(i), title: "click to hide or show" },
          el("td", { class: "text" }, el("span", { class: "swatch", style: "background:" + l.color }), l.label),
          el("td", { class: "value" }, ""),
          el("td", {}, fmt(st.max)), el("td", {}, fmt(st.min)), el("td", {}, fmt(st.avg)), el("td", {}, fmt(st.last)));
        row.addEventListener("click", () => {
          const show = !plot.series[i + 1].show;
          plot.setSeries(i + 1, { show });
          row.classList.toggle("off", !show);
        });
        rows.push(row);
        body.append(row);
      });
    }
    box.sextantPlot = plot;
    return { plot, destroy: () => plot.destroy() };
  },
};
