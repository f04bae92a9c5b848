// Sextant web UI: one page, six views (graph, tags, dashboards, dashboard, alerts, status). Every view
// is driven by the query string, so any URL restores what was on screen. Loaded last: chart.js
// (fmt, el, SextantChart), editor.js, dashboards.js and alerts.js define what this calls.
"use strict";

const $ = (id) => document.getElementById(id);
const GRAPH_FIELDS = ["q", "s", "e", "tz", "step", "w", "h", "theme", "refresh"];
const DEFAULTS = { s: "e-3h", e: "now", tz: "UTC", w: "700", h: "300", theme: "light", refresh: "0" };

// ---- authentication ---------------------------------------------------------------
// With tokens configured on the server, every API call carries `Authorization: Bearer`.
// The token lives in sessionStorage: gone when the tab closes, never in a URL or a cookie
// (so no other site can make the browser send it). Images are fetched the same way and
// shown from blob URLs, since an <img src> cannot carry a header.

const TOKEN_KEY = "sextant.token";

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; }
}

function withToken(init) {
  const t = token();
  if (!t) return init || {};
  const headers = new Headers((init && init.headers) || {});
  headers.set("authorization", "Bearer " + t);
  return Object.assign({}, init, { headers });
}

// Shows the token form with why it is needed (a 401 or 403 message from the server).
function askToken(message) {
  $("token-form").hidden = false;
  $("token-why").textContent = message || "";
}

async function api(url, init) {
  const r = await fetch(url, withToken(init));
  if (r.status === 401 || r.status === 403) {
    let msg = "";
    try { msg = (await r.clone().json()).message || ""; } catch (_) { msg = ""; }
    askToken(msg);
  }
  return r;
}

// Points `img` at a chart URL: directly without a token, through a blob with one.
async function showImage(img, url) {
  if (!token()) { img.src = url; return; }
  const r = await api(url);
  const blob = await r.blob();
  if (img.dataset.blob) URL.revokeObjectURL(img.dataset.blob);
  img.dataset.blob = URL.createObjectURL(blob);
  img.src = img.dataset.blob;
}

function initToken() {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    try { sessionStorage.setItem(TOKEN_KEY, $("token").value.trim()); } catch (_) { /* private mode */ }
    $("token").value = "";
    $("token-form").hidden = true;
    location.reload();
  });
}

async function getJson(url, init) {
  const r = await api(url, init);
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  return { ok: r.ok, status: r.status, body };
}

function errorText(r) {
  return (r.body && r.body.message) || ("HTTP " + r.status);
}

// ---- theme ------------------------------------------------------------------------
// One theme for the page and its charts: the header's selector, remembered in
// localStorage, overridden by a `theme` URL parameter (so shared links keep theirs).

function pageTheme() {
  return document.documentElement.dataset.theme === "dark" ? "dark" : "light";
}

function initTheme(onChange) {
  const sel = $("theme");
  sel.value = pageTheme();
  sel.addEventListener("change", () => {
    document.documentElement.dataset.theme = sel.value;
    try { localStorage.setItem("sextant.theme", sel.value); } catch (_) { /* private mode */ }
    if (onChange) onChange(sel.value);
  });
}

// An <img> showing the chart at `url`.
function chartImg(url, alt) {
  const img = el("img", { alt });
  showImage(img, url);
  return img;
}

// Loads /api/v1/chart for `params` and draws it into `box` with its legend table; returns
// the answer (`ok`, `status`, `body`). A failed query shows its message in the box.
async function loadChart(box, legend, params, width, height, onZoom) {
  let r = await getJson("/api/v1/chart?" + params);
  // A busy server (every query slot taken, 503) asks to come back: a dashboard's panels all
  // ask at once, so a few waits are normal.
  for (let attempt = 0; r.status === 503 && attempt < 10; attempt++) {
    await new Promise((done) => setTimeout(done, 500 * (attempt + 1)));
    r = await getJson("/api/v1/chart?" + params);
  }
  if (box.sextantPlot) { box.sextantPlot.destroy(); box.sextantPlot = null; }
  if (!r.ok) {
    box.replaceChildren(el("div", { class: "error" }, errorText(r)));
    if (legend) legend.tBodies[0].replaceChildren();
    box.dataset.drawn = "error";
    return r;
  }
  const t0 = performance.now();
  SextantChart.draw(box, legend, r.body, width, height, { onZoom });
  // The page's own drawing time (main thread), summed for the benchmark.
  window.sextantDrawMs = (window.sextantDrawMs || 0) + performance.now() - t0;
  box.dataset.drawn = String(Date.now());
  return r;
}

// ---- graph view -------------------------------------------------------------------

function graphParams() {
  const p = new URLSearchParams();
  for (const f of GRAPH_FIELDS) {
    const v = $(f).value.trim();
    if (v !== "" && (f === "q" || v !== DEFAULTS[f] || f === "tz")) p.set(f, v);
  }
  return p;
}

function fillGraphForm(params) {
  for (const f of GRAPH_FIELDS) {
    if (f === "theme") continue;
    const v = params.get(f);
    $(f).value = v !== null ? v : (DEFAULTS[f] || "");
  }
  const s = $("s").value;
  const preset = [...$("range").options].find((o) => o.value === s);
  $("range").value = preset && $("e").value === "now" ? s : "custom";
}

let checkTimer = null;
async function checkExpression() {
  const q = $("q").value.trim();
  const err = $("q-error");
  const stack = $("stack");
  if (!q) { stack.replaceChildren(); err.hidden = true; return false; }
  const r = await getJson("/api/v1/expr?q=" + encodeURIComponent(q));
  stack.replaceChildren();
  if (!r.ok) {
    const msg = errorText(r);
    const m = /^(.*?) at (\d+): /.exec(msg);
    let text = msg;
    if (m) {
      const pos = Number(m[2]);
      text = msg + "\n" + q + "\n" + " ".repeat(Math.min(pos, q.length)) + "^";
    }
    err.textContent = text;
    err.hidden = false;
    return false;
  }
  err.hidden = true;
  for (const item of r.body.stack) {
    stack.append(el("li", {}, el("span", { class: "type" }, item.type), item.expr));
  }
  return true;
}

async function showData(params) {
  const data = new URLSearchParams(params);
  data.set("format", "std.json");
  data.delete("refresh");
  const d = await getJson("/api/v1/graph?" + data);
  const head = $("data").tHead;
  const body = $("data").tBodies[0];
  head.replaceChildren();
  body.replaceChildren();
  if (!d.ok) return;
  head.append(el("tr", {}, el("th", {}, "time"), ...d.body.legend.map((l) => el("th", {}, l))));
  d.body.values.forEach((row, i) => {
    const t = new Date(d.body.start + i * d.body.step).toISOString().replace(".000Z", "Z");
    body.append(el("tr", {}, el("td", {}, t), ...row.map((v) => el("td", {}, fmt(v)))));
  });
}

// A zoom fixes the range to absolute times; live refresh pauses until "Zoom out".
function zoomGraph(from, to) {
  $("s").value = String(from);
  $("e").value = String(to);
  $("range").value = "custom";
  runGraph(true);
}

function isLive() {
  return $("e").value.trim() === "now" || $("e").value.trim() === "";
}

let graphTimer = null;
function scheduleGraph() {
  clearInterval(graphTimer);
  const secs = Number($("refresh").value);
  const status = $("chart-status");
  if (secs > 0 && !isLive()) {
    status.textContent = "refresh paused while zoomed";
    return;
  }
  status.textContent = secs > 0 ? "live: every " + $("refresh").selectedOptions[0].textContent : "";
  if (secs > 0) graphTimer = setInterval(() => runGraph(false, true), secs * 1000);
}

async function runGraph(push, quiet) {
  const params = graphParams();
  const qs = params.toString();
  if (push) history.pushState(null, "", "/?" + qs);
  else if (!quiet) history.replaceState(null, "", "/?" + qs);
  const share = location.origin + "/?" + qs;
  $("share").href = share;
  $("share").textContent = share;
  const q = params.get("q");
  $("guide").hidden = Boolean(q);
  $("chart-box").hidden = !q;
  $("graph-extras").hidden = !q;
  $("zoom-out").hidden = isLive();
  if (!q) return;
  const chartParams = new URLSearchParams(params);
  chartParams.delete("refresh");
  $("png-link").href = "/api/v1/graph?" + chartParams;
  $("png-link").hidden = false;
  const ok = quiet ? true : await checkExpression();
  const w = Number($("w").value) || 700;
  const h = Number($("h").value) || 300;
  const r = await loadChart($("chart"), $("legend"), chartParams, w, h, zoomGraph);
  if (ok && r.ok) {
    if (!quiet) rememberExpression(q);
    if ($("data").closest("details").open || !quiet) await showData(params);
  }
  scheduleGraph();
}

async function addToDashboard() {
  const name = $("dash-name").value.trim();
  const status = $("dash-status");
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) { status.textContent = "invalid name"; return; }
  const url = "/api/v1/dashboards/" + encodeURIComponent(name);
  const cur = await getJson(url);
  const dash = cur.ok ? cur.body : { title: name, graphs: [] };
  dash.graphs = dash.graphs || [];
  dash.graphs.push({
    title: $("dash-title").value.trim() || $("q").value.trim(),
    q: $("q").value.trim(),
    w: Number($("w").value) || 700,
    h: Number($("h").value) || 300,
  });
  const r = await getJson(url, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(dash) });
  status.textContent = r.ok ? "saved to " + name : "failed: " + errorText(r);
}

// The landing page: example expressions that graph on click, and the saved dashboards.
const EXAMPLES = [
  ["name,ssCpuUser,:eq,(,nf.app,),:by", "user CPU, one line per app"],
  ["name,server.requestCount,:eq,(,status,),:by,:stack", "requests per second by status, stacked"],
  ["name,server.requestCount,:eq,status,5xx,:eq,:and,:sum,name,server.requestCount,:eq,:sum,:div,100,:mul,errors in percent,:legend", "share of 5xx responses"],
  ["name,server.ptime,:eq,(,50,90,99,),:percentiles", "latency percentiles"],
  ["nf.app,sextant,:eq,name,sextant.store.series,:eq,:and", "the server's own series count"],
];

async function showGuide() {
  const list = $("examples");
  list.replaceChildren();
  for (const [q, what] of EXAMPLES) {
    const a = el("a", { href: "/?" + new URLSearchParams({ q }), class: "example" }, q);
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      $("q").value = q;
      runGraph(true);
    });
    list.append(el("li", {}, a, " — " + what));
  }
  const r = await getJson("/api/v1/dashboards");
  if (r.ok && r.body.length) {
    const links = $("guide-dashboard-links");
    links.replaceChildren();
    r.body.forEach((name, i) => {
      if (i) links.append(", ");
      links.append(el("a", { href: "/?view=dashboard&name=" + encodeURIComponent(name) }, name));
    });
    $("guide-dashboards").hidden = false;
  }
}

function initGraph(params) {
  fillGraphForm(params);
  $("graph-form").addEventListener("submit", (ev) => { ev.preventDefault(); runGraph(true); });
  $("range").addEventListener("change", () => {
    if ($("range").value !== "custom") { $("s").value = $("range").value; $("e").value = "now"; }
  });
  $("s").addEventListener("input", () => { $("range").value = "custom"; });
  $("q").addEventListener("input", () => {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(checkExpression, 300);
  });
  $("refresh").addEventListener("change", () => runGraph(false));
  $("zoom-out").addEventListener("click", () => {
    const preset = params.get("s") && !/^\d+$/.test(params.get("s")) ? params.get("s") : "e-3h";
    $("s").value = preset;
    $("e").value = "now";
    $("range").value = [...$("range").options].some((o) => o.value === preset) ? preset : "custom";
    runGraph(true);
  });
  $("dash-add").addEventListener("click", addToDashboard);
  $("data").closest("details").addEventListener("toggle", () => showData(graphParams()));
  initEditor();
  showGuide();
  runGraph(false);
}

// ---- tag explorer -----------------------------------------------------------------

async function loadTags(params) {
  const tq = $("tags-q").value.trim();
  const qpart = tq ? "q=" + encodeURIComponent(tq) + "&" : "";
  const err = $("tags-error");
  const r = await getJson("/api/v1/tags?" + qpart + "verbose=1");
  const keys = $("tag-keys").tBodies[0];
  keys.replaceChildren();
  $("tag-values").tBodies[0].replaceChildren();
  if (!r.ok) {
    err.textContent = errorText(r);
    err.hidden = false;
    return;
  }
  err.hidden = true;
  for (const k of r.body) {
    const row = el("tr", { "data-key": k.key }, el("td", {}, k.key), el("td", {}, k.count));
    row.addEventListener("click", () => {
      for (const x of keys.rows) x.classList.remove("selected");
      row.classList.add("selected");
      loadValues(k.key, qpart, params);
    });
    keys.append(row);
  }
}

async function loadValues(key, qpart, params) {
  const r = await getJson("/api/v1/tags/" + encodeURIComponent(key) + "?" + qpart + "verbose=1");
  const values = $("tag-values").tBodies[0];
  values.replaceChildren();
  if (!r.ok) return;
  for (const v of r.body) {
    const row = el("tr", { "data-value": v.value }, el("td", {}, v.value), el("td", {}, v.count));
    row.addEventListener("click", () => addClause(key, v.value, params));
    values.append(row);
  }
}

// A clause narrows the expression when its top is a query, else starts a new line.
async function addClause(key, value, params) {
  const clause = key + "," + value + ",:eq";
  const q = (params.get("q") || "").trim();
  let next = clause;
  if (q) {
    const r = await getJson("/api/v1/expr?q=" + encodeURIComponent(q));
    const top = r.ok && r.body.stack.length ? r.body.stack[r.body.stack.length - 1].type : "";
    next = top === "a query" ? q + "," + clause + ",:and" : q + "," + clause;
  }
  const out = new URLSearchParams(params);
  out.delete("view");
  out.delete("tq");
  out.set("q", next);
  location.href = "/?" + out;
}

function initTags(params) {
  $("tags-q").value = params.get("tq") || "";
  $("tags-target").textContent = params.get("q") || "(new expression)";
  $("tags-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadTags(params); });
  loadTags(params);
}

// ---- routing ----------------------------------------------------------------------

function main() {
  initToken();
  const params = new URLSearchParams(location.search);
  const view = params.get("view") || "graph";
  const section = { graph: "graph-view", tags: "tags-view", dashboards: "dashboards-view", dashboard: "dashboard-view", alerts: "alerts-view", status: "status-view" }[view] || "graph-view";
  $(section).hidden = false;
  const nav = { graph: "nav-graph", tags: "nav-tags", dashboards: "nav-dashboards", dashboard: "nav-dashboards", alerts: "nav-alerts", status: "nav-status" }[view];
  if (nav) $(nav).classList.add("active");
  // The tag explorer keeps the graph's expression so a click can extend it.
  const q = params.get("q");
  if (q) $("nav-tags").href = "/?view=tags&q=" + encodeURIComponent(q);
  // Charts are drawn in the theme's colors by the server: redraw on a change.
  let redraw = () => {};
  initTheme(() => redraw());
  if (view === "tags") initTags(params);
  else if (view === "dashboards") initDashboards();
  else if (view === "dashboard") redraw = initDashboard(params);
  else if (view === "alerts") initAlerts();
  else if (view === "status") initStatus();
  else {
    initGraph(params);
    redraw = () => runGraph(false);
  }
  window.addEventListener("popstate", () => location.reload());
}

main();
