// Sextant web UI: one page, five views (graph, tags, dashboards, dashboard, alerts). Every view
// is driven by the query string, so any URL restores what was on screen.
"use strict";

const $ = (id) => document.getElementById(id);
const GRAPH_FIELDS = ["q", "s", "e", "tz", "step", "w", "h", "theme"];
const DEFAULTS = { s: "e-3h", e: "now", tz: "UTC", w: "700", h: "300", theme: "light" };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

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

// An <img> showing the chart at `url`.
function chartImg(url, alt) {
  const img = el("img", { alt });
  showImage(img, url);
  return img;
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
    const v = params.get(f);
    $(f).value = v !== null ? v : (DEFAULTS[f] || "");
  }
  const s = $("s").value;
  const preset = [...$("range").options].find((o) => o.value === s);
  $("range").value = preset ? s : "custom";
}

let checkTimer = null;
async function checkExpression() {
  const q = $("q").value.trim();
  const err = $("q-error");
  const stack = $("stack");
  stack.replaceChildren();
  if (!q) { err.hidden = true; return false; }
  const r = await getJson("/api/v1/expr?q=" + encodeURIComponent(q));
  if (!r.ok) {
    const msg = (r.body && r.body.message) || ("HTTP " + r.status);
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

async function showLegendAndData(params) {
  const legend = $("legend").tBodies[0];
  const stats = new URLSearchParams(params);
  stats.set("format", "stats.json");
  const s = await getJson("/api/v1/graph?" + stats);
  legend.replaceChildren();
  if (s.ok) {
    s.body.legend.forEach((label, i) => {
      const st = s.body.stats[i] || {};
      legend.append(el("tr", {}, el("td", {}, label), el("td", {}, fmt(st.max)),
        el("td", {}, fmt(st.min)), el("td", {}, fmt(st.avg)), el("td", {}, fmt(st.last))));
    });
  }
  const data = new URLSearchParams(params);
  data.set("format", "std.json");
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

async function runGraph(push) {
  const params = graphParams();
  const qs = params.toString();
  if (push) history.pushState(null, "", "/?" + qs);
  const share = location.origin + "/?" + qs;
  $("share").href = share;
  $("share").textContent = share;
  if (!params.get("q")) return;
  const ok = await checkExpression();
  // The image is shown even for a bad expression: it is the server's error image.
  showImage($("chart"), "/api/v1/graph?" + qs);
  if (ok) await showLegendAndData(params);
}

async function addToDashboard() {
  const name = $("dash-name").value.trim();
  const status = $("dash-status");
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) { status.textContent = "invalid name"; return; }
  const url = "/api/v1/dashboards/" + encodeURIComponent(name);
  const cur = await getJson(url);
  const dash = cur.ok ? cur.body : { title: name, graphs: [] };
  dash.graphs.push({
    title: $("dash-title").value.trim() || $("q").value.trim(),
    q: $("q").value.trim(),
    w: Number($("w").value) || 700,
    h: Number($("h").value) || 300,
    theme: $("theme").value,
  });
  const r = await getJson(url, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(dash) });
  status.textContent = r.ok ? "saved to " + name : "failed: " + ((r.body && r.body.message) || r.status);
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
  $("dash-add").addEventListener("click", addToDashboard);
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
    err.textContent = (r.body && r.body.message) || ("HTTP " + r.status);
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

// ---- dashboards -------------------------------------------------------------------

async function initDashboards() {
  const r = await getJson("/api/v1/dashboards");
  const list = $("dash-list");
  list.replaceChildren();
  for (const name of (r.ok ? r.body : [])) {
    list.append(el("li", {}, el("a", { href: "/?view=dashboard&name=" + encodeURIComponent(name) }, name)));
  }
  $("dash-new").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("dash-new-name").value.trim();
    const url = "/api/v1/dashboards/" + encodeURIComponent(name);
    const put = await getJson(url, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ title: name, graphs: [] }) });
    if (put.ok) location.href = "/?view=dashboard&name=" + encodeURIComponent(name);
  });
}

let refreshTimer = null;
async function initDashboard(params) {
  const name = params.get("name") || "";
  const url = "/api/v1/dashboards/" + encodeURIComponent(name);
  const r = await getJson(url);
  const grid = $("dash-grid");
  if (!r.ok) { $("dashboard-title").textContent = "no dashboard named " + name; return; }
  const dash = r.body;
  $("dashboard-title").textContent = dash.title || name;
  if (params.get("s")) $("dash-range").value = params.get("s");
  if (params.get("refresh")) $("dash-refresh").value = params.get("refresh");
  const draw = () => {
    grid.replaceChildren();
    for (const g of dash.graphs || []) {
      const p = new URLSearchParams({ q: g.q, s: $("dash-range").value, tz: params.get("tz") || "UTC",
        w: g.w || 400, h: g.h || 200, theme: g.theme || "light", _t: Date.now() });
      grid.append(el("figure", {}, el("figcaption", {}, g.title || g.q), chartImg("/api/v1/graph?" + p, g.title || g.q)));
    }
  };
  const schedule = () => {
    clearInterval(refreshTimer);
    const secs = Number($("dash-refresh").value);
    if (secs > 0) refreshTimer = setInterval(draw, secs * 1000);
    const p = new URLSearchParams({ view: "dashboard", name, s: $("dash-range").value, refresh: $("dash-refresh").value });
    history.replaceState(null, "", "/?" + p);
  };
  $("dash-range").addEventListener("change", () => { draw(); schedule(); });
  $("dash-refresh").addEventListener("change", schedule);
  $("dash-delete").addEventListener("click", async () => {
    await api(url, { method: "DELETE" });
    location.href = "/?view=dashboards";
  });
  draw();
  schedule();
}

// ---- alerts view ------------------------------------------------------------------

// The rules' chart links are absolute (for notifications); the page loads them from
// wherever it was itself served.
function localUrl(url) {
  const u = new URL(url, location.href);
  return u.pathname + u.search;
}

function labelText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => k + "=" + v).join(", ");
}

async function initAlerts() {
  const [rules, alerts] = await Promise.all([getJson("/api/v1/rules"), getJson("/api/v1/alerts")]);
  const failed = [rules, alerts].find((r) => !r.ok);
  if (failed) {
    $("alerts-error").textContent = (failed.body && failed.body.message) || "HTTP " + failed.status;
    $("alerts-error").hidden = false;
    return;
  }
  const body = $("alerts-table").querySelector("tbody");
  const list = Array.isArray(alerts.body) ? alerts.body : (alerts.body.alerts || []);
  for (const a of list) {
    body.append(el("tr", { class: "alert-" + a.state },
      el("td", {}, a.rule), el("td", {}, a.state), el("td", {}, labelText(a.labels)),
      el("td", {}, fmt(a.value)), el("td", {}, a.activeAt || ""), el("td", {}, a.silenced ? "yes" : "")));
  }
  if (list.length === 0) body.append(el("tr", {}, el("td", { colspan: "6" }, "No alerts.")));
  const grid = $("rules-grid");
  for (const r of rules.body.rules || []) {
    const caption = el("figcaption", {},
      el("strong", {}, r.name), " ", el("span", { class: "rule-state" }, r.state + " / " + r.health),
      r.lastError ? el("div", { class: "error" }, r.lastError) : "");
    const img = chartImg(localUrl(r.graphURL) + "&w=500&h=200", "chart of " + r.name);
    const link = el("a", { href: "/?" + new URLSearchParams({ q: r.expr }).toString() }, img);
    grid.append(el("figure", { class: "rule" }, caption, link, el("code", {}, r.expr)));
  }
  if ((rules.body.rules || []).length === 0) grid.append(el("p", {}, "No rules loaded (start the server with --rules FILE)."));
}

// ---- routing ----------------------------------------------------------------------

function main() {
  initToken();
  const params = new URLSearchParams(location.search);
  const view = params.get("view") || "graph";
  const section = { graph: "graph-view", tags: "tags-view", dashboards: "dashboards-view", dashboard: "dashboard-view", alerts: "alerts-view" }[view] || "graph-view";
  $(section).hidden = false;
  const nav = { graph: "nav-graph", tags: "nav-tags", dashboards: "nav-dashboards", dashboard: "nav-dashboards", alerts: "nav-alerts" }[view];
  if (nav) $(nav).classList.add("active");
  // The tag explorer keeps the graph's expression so a click can extend it.
  const q = params.get("q");
  if (q) $("nav-tags").href = "/?view=tags&q=" + encodeURIComponent(q);
  if (view === "tags") initTags(params);
  else if (view === "dashboards") initDashboards();
  else if (view === "dashboard") initDashboard(params);
  else if (view === "alerts") initAlerts();
  else initGraph(params);
  window.addEventListener("popstate", () => location.reload());
}

main();
