// Dashboards: the list (create, import) and one dashboard (panels drawn with uPlot, one time
// range, variables, auto-refresh that pauses while zoomed, edit mode to add, edit, remove,
// reorder and resize panels, JSON export). A dashboard is the JSON the server stores:
// {"title", "variables": [{"name", "key", "q"}], "graphs": [{"title", "q", "w", "h"}]}.
"use strict";

const PANEL_W = 400;
const PANEL_H = 200;
const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

function dashUrl(name) {
  return "/api/v1/dashboards/" + encodeURIComponent(name);
}

async function putDashboard(name, doc) {
  return getJson(dashUrl(name), { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(doc) });
}

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
    const put = await putDashboard(name, { title: name, variables: [], graphs: [] });
    if (put.ok) location.href = "/?view=dashboard&name=" + encodeURIComponent(name) + "&edit=1";
  });
  $("dash-import").addEventListener("click", async () => {
    const name = $("dash-import-name").value.trim();
    const status = $("dash-import-status");
    if (!NAME_RE.test(name)) { status.textContent = "invalid name"; return; }
    let doc;
    try { doc = JSON.parse($("dash-import-json").value); } catch (e) { status.textContent = "not JSON: " + e.message; return; }
    const put = await putDashboard(name, doc);
    if (put.ok) location.href = "/?view=dashboard&name=" + encodeURIComponent(name);
    else status.textContent = "refused: " + errorText(put);
  });
}

// `$name` of each variable replaced by its chosen value; `$name.x` or `$names` are left
// alone, so legend templates such as `$nf.app` keep working.
function substitute(q, values) {
  return q.replace(/\$([A-Za-z0-9_]+)(?![A-Za-z0-9_.])/g, (m, name) => (name in values ? values[name] : m));
}

// Everything about the dashboard on screen.
const board = { name: "", dash: null, values: {}, editing: false, timer: null, zoomed: false };

function boardRange(params) {
  if (board.zoomed) return { s: board.zoomed[0], e: board.zoomed[1] };
  return { s: $("dash-range").value, e: "now" };
}

function boardUrl() {
  const p = new URLSearchParams({ view: "dashboard", name: board.name });
  const r = boardRange();
  p.set("s", r.s);
  if (r.e !== "now") p.set("e", r.e);
  p.set("refresh", $("dash-refresh").value);
  for (const [k, v] of Object.entries(board.values)) p.set("var-" + k, v);
  if (board.editing) p.set("edit", "1");
  return "/?" + p;
}

async function loadVariables(params) {
  const box = $("dash-vars");
  box.replaceChildren();
  for (const v of board.dash.variables || []) {
    if (!v.name || !v.key) continue;
    const q = v.q ? "?q=" + encodeURIComponent(v.q) : "";
    const r = await getJson("/api/v1/tags/" + encodeURIComponent(v.key) + q);
    const values = r.ok ? r.body.map((x) => (typeof x === "string" ? x : x.value)) : [];
    const sel = el("select", { id: "var-" + v.name, "data-var": v.name });
    for (const val of values) sel.append(el("option", { value: val }, val));
    const wanted = params.get("var-" + v.name) || board.values[v.name];
    sel.value = values.includes(wanted) ? wanted : (values[0] || "");
    board.values[v.name] = sel.value;
    sel.addEventListener("change", () => { board.values[v.name] = sel.value; drawBoard(); });
    box.append(el("label", {}, "$" + v.name, sel));
  }
}

// Draws every panel; resolves when the last is drawn (the benchmark waits on this).
async function drawBoard() {
  history.replaceState(null, "", boardUrl());
  const grid = $("dash-grid");
  for (const fig of grid.children) if (fig.plotBox && fig.plotBox.sextantPlot) fig.plotBox.sextantPlot.destroy();
  grid.replaceChildren();
  grid.dataset.drawn = "0";
  const started = performance.now();
  const graphs = board.dash.graphs || [];
  const jobs = graphs.map((g, i) => drawPanel(grid, g, i));
  await Promise.all(jobs);
  grid.dataset.drawn = String(graphs.length);
  // For the benchmark (tests/tests/browser_perf.rs): since navigation, and this drawing alone.
  window.sextantBoardDoneAt = performance.now();
  window.sextantBoardDrawMs = window.sextantBoardDoneAt - started;
  scheduleBoard();
}

// The panel's width goes to the server too: it caps the datapoints per line (one per pixel,
// at most 1440), as for the PNG.
function panelParams(g) {
  const r = boardRange();
  return new URLSearchParams({ q: substitute(g.q || "", board.values), s: r.s, e: r.e,
    tz: new URLSearchParams(location.search).get("tz") || "UTC", theme: pageTheme(),
    w: String(Number(g.w) || PANEL_W), h: String(Number(g.h) || PANEL_H) });
}

function drawPanel(grid, g, i) {
  const w = Number(g.w) || PANEL_W;
  const h = Number(g.h) || PANEL_H;
  const box = el("div", { class: "chart" });
  const legend = el("table", { class: "legend" },
    el("thead", {}, el("tr", {}, el("th", {}, "Line"), el("th", { class: "cursor-time" }, "Value"),
      el("th", {}, "Max"), el("th", {}, "Min"), el("th", {}, "Avg"), el("th", {}, "Last"))),
    el("tbody", {}));
  const params = panelParams(g);
  const png = el("a", { href: "/api/v1/graph?" + params, class: "png" }, "PNG");
  const caption = el("figcaption", {}, el("span", { class: "title" }, g.title || g.q), png);
  const fig = el("figure", { class: "panel", "data-index": String(i) }, caption);
  if (board.editing) fig.append(panelEditor(g, i));
  fig.append(box, legend);
  fig.plotBox = box;
  grid.append(fig);
  if (!g.q) { box.replaceChildren(el("div", { class: "nodata" }, "no expression yet")); return Promise.resolve(); }
  return loadChart(box, legend, params, w, h, zoomBoard);
}

// The controls of one panel in edit mode.
function panelEditor(g, i) {
  const graphs = board.dash.graphs;
  const title = el("input", { class: "panel-title", size: "30", value: g.title || "" });
  const q = el("textarea", { class: "panel-q", rows: "2", spellcheck: "false" });
  q.value = g.q || "";
  const w = el("input", { class: "panel-w", type: "number", min: "100", max: "2000", step: "50", value: String(g.w || PANEL_W) });
  const h = el("input", { class: "panel-h", type: "number", min: "80", max: "1000", step: "20", value: String(g.h || PANEL_H) });
  const apply = () => {
    g.title = title.value.trim();
    g.q = q.value.trim();
    g.w = Number(w.value) || PANEL_W;
    g.h = Number(h.value) || PANEL_H;
    drawBoard();
  };
  for (const input of [title, q, w, h]) input.addEventListener("change", apply);
  const move = (d) => () => {
    const j = i + d;
    if (j < 0 || j >= graphs.length) return;
    [graphs[i], graphs[j]] = [graphs[j], graphs[i]];
    drawBoard();
  };
  return el("div", { class: "panel-edit" },
    el("label", {}, "Title", title),
    el("label", { class: "wide" }, "Expression", q),
    el("div", { class: "row" },
      el("label", {}, "W", w), el("label", {}, "H", h),
      el("button", { type: "button", class: "panel-up", onclick: move(-1), title: "move earlier" }, "◀"),
      el("button", { type: "button", class: "panel-down", onclick: move(1), title: "move later" }, "▶"),
      el("button", { type: "button", class: "panel-remove", onclick: () => { graphs.splice(i, 1); drawBoard(); } }, "Remove")));
}

function showVariableEditor() {
  const body = $("var-table").tBodies[0];
  body.replaceChildren();
  const vars = board.dash.variables;
  vars.forEach((v, i) => {
    const input = (field, size, cls) => {
      const x = el("input", { class: cls, size, value: v[field] || "" });
      x.addEventListener("change", () => { v[field] = x.value.trim(); });
      return x;
    };
    body.append(el("tr", {},
      el("td", {}, input("name", "10", "var-name")), el("td", {}, input("key", "14", "var-key")),
      el("td", {}, input("q", "30", "var-q")),
      el("td", {}, el("button", { type: "button", onclick: () => { vars.splice(i, 1); showVariableEditor(); } }, "Remove"))));
  });
}

function setEditing(on) {
  board.editing = on;
  $("dash-editor").hidden = !on;
  $("dash-edit").hidden = on;
  if (on) showVariableEditor();
  drawBoard();
}

async function saveBoard(params) {
  const status = $("dash-save-status");
  const err = $("dash-save-error");
  const r = await putDashboard(board.name, board.dash);
  if (!r.ok) {
    err.textContent = errorText(r);
    err.hidden = false;
    status.textContent = "";
    return;
  }
  err.hidden = true;
  status.textContent = "saved";
  board.dash = r.body;
  board.dash.graphs = board.dash.graphs || [];
  board.dash.variables = board.dash.variables || [];
  await loadVariables(params);
  setEditing(false);
}

function zoomBoard(from, to) {
  board.zoomed = [String(from), String(to)];
  $("dash-range").value = "custom";
  $("dash-zoom-out").hidden = false;
  drawBoard();
}

function scheduleBoard() {
  clearInterval(board.timer);
  const secs = Number($("dash-refresh").value);
  const state = $("dash-refresh-state");
  if (secs > 0 && (board.zoomed || board.editing)) {
    state.textContent = board.zoomed ? "refresh paused while zoomed" : "refresh paused while editing";
    return;
  }
  state.textContent = secs > 0 ? "live" : "";
  if (secs > 0) board.timer = setInterval(drawBoard, secs * 1000);
}

function exportLink() {
  const a = $("dash-export");
  a.download = board.name + ".json";
  a.href = "data:application/json;charset=utf-8," + encodeURIComponent(JSON.stringify(board.dash, null, 2));
}

// Returns a function that redraws the panels (the theme changed).
function initDashboard(params) {
  board.name = params.get("name") || "";
  const start = async () => {
    const r = await getJson(dashUrl(board.name));
    if (!r.ok) {
      $("dashboard-title").textContent = r.status === 404 ? "no dashboard named " + board.name : errorText(r);
      for (const id of ["dash-edit", "dash-export", "dash-delete"]) $(id).hidden = true;
      return;
    }
    board.dash = r.body;
    board.dash.graphs = board.dash.graphs || [];
    board.dash.variables = board.dash.variables || [];
    $("dashboard-title").textContent = board.dash.title || board.name;
    const s = params.get("s");
    if (s && /^\d+$/.test(s) && /^\d+$/.test(params.get("e") || "")) {
      board.zoomed = [s, params.get("e")];
      $("dash-range").value = "custom";
      $("dash-zoom-out").hidden = false;
    } else if (s) {
      $("dash-range").value = s;
    }
    if (params.get("refresh")) $("dash-refresh").value = params.get("refresh");
    await loadVariables(params);
    exportLink();
    if (params.get("edit") === "1") setEditing(true);
    else drawBoard();
  };
  $("dash-range").addEventListener("change", () => {
    board.zoomed = false;
    $("dash-zoom-out").hidden = true;
    drawBoard();
  });
  $("dash-zoom-out").addEventListener("click", () => {
    board.zoomed = false;
    $("dash-zoom-out").hidden = true;
    $("dash-range").value = "e-3h";
    drawBoard();
  });
  $("dash-refresh").addEventListener("change", () => { history.replaceState(null, "", boardUrl()); scheduleBoard(); });
  $("dash-edit").addEventListener("click", () => setEditing(true));
  $("dash-cancel").addEventListener("click", () => { board.editing = false; location.href = boardUrl(); });
  $("dash-save").addEventListener("click", () => saveBoard(params));
  $("panel-add").addEventListener("click", () => {
    board.dash.graphs.push({ title: "", q: "", w: PANEL_W, h: PANEL_H });
    drawBoard();
  });
  $("var-add").addEventListener("click", () => {
    board.dash.variables.push({ name: "", key: "", q: "" });
    showVariableEditor();
  });
  $("dash-export").addEventListener("click", exportLink);
  // A second click confirms (a modal dialog would block the page's scripts).
  $("dash-delete").addEventListener("click", async () => {
    const b = $("dash-delete");
    if (!b.dataset.armed) { b.dataset.armed = "1"; b.textContent = "Really delete " + board.name + "?"; return; }
    await api(dashUrl(board.name), { method: "DELETE" });
    location.href = "/?view=dashboards";
  });
  start();
  return () => { if (board.dash) drawBoard(); };
}
