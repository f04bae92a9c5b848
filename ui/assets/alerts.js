// The alerts view: rules with their state and a link to their expression, alert instances
// filtered by label, silences created (matchers pre-filled from an alert), listed and
// expired, each rule's chart as a PNG (what notifications link to), and auto-refresh.
"use strict";

// The rules' chart links are absolute (for notifications); the page loads them from
// wherever it was itself served.
function localUrl(url) {
  const u = new URL(url, location.href);
  return u.pathname + u.search;
}

function labelText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => k + "=" + v).join(", ");
}

// "severity=page app=www" (commas or spaces between): every pair must match; a bare word
// matches any label value containing it.
function labelFilter(text) {
  const terms = text.split(/[,\s]+/).map((t) => t.trim()).filter(Boolean);
  return (labels) => terms.every((t) => {
    const i = t.indexOf("=");
    if (i < 0) return Object.values(labels || {}).some((v) => String(v).includes(t));
    return (labels || {})[t.slice(0, i)] === t.slice(i + 1);
  });
}

const MATCHER_RE = /^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$/;

// One matcher a line, Alertmanager's operators.
function parseMatchers(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const m = MATCHER_RE.exec(line);
    if (!m) throw new Error("not a matcher: " + line.trim() + " (use name=value, name!=value, name=~regex or name!~regex)");
    out.push({ name: m[1], value: m[3], isRegex: m[2].includes("~"), isEqual: !m[2].startsWith("!") });
  }
  if (!out.length) throw new Error("a silence needs at least one matcher");
  return out;
}

function matcherText(m) {
  return m.name + (m.isEqual ? "" : "!") + (m.isRegex ? "=~" : "=") + m.value;
}

function silenceFrom(labels) {
  $("silence-matchers").value = Object.entries(labels || {}).map(([k, v]) => k + "=" + v).join("\n");
  $("silence-matchers").focus();
  $("silence-form").scrollIntoView({ block: "nearest" });
}

let alertsData = { alerts: [] };

function showAlerts() {
  const body = $("alerts-table").tBodies[0];
  body.replaceChildren();
  const keep = labelFilter($("alerts-filter").value);
  const list = alertsData.alerts.filter((a) => keep(a.labels));
  for (const a of list) {
    const button = el("button", { type: "button", class: "silence-this", onclick: () => silenceFrom(a.labels) }, "Silence");
    body.append(el("tr", { class: "alert-" + a.state },
      el("td", {}, a.rule), el("td", {}, a.state), el("td", { class: "text" }, labelText(a.labels)),
      el("td", {}, fmt(a.value)), el("td", {}, a.activeAt || ""), el("td", {}, a.silenced ? "yes" : ""), el("td", {}, button)));
  }
  if (list.length === 0) body.append(el("tr", {}, el("td", { colspan: "7" }, alertsData.alerts.length ? "No alert matches the filter." : "No alerts.")));
}

// On a cluster node each rule carries the node that evaluated it (`evaluatedBy`).
function showRules(rules) {
  const body = $("rules-table").tBodies[0];
  body.replaceChildren();
  const grid = $("rules-grid");
  grid.replaceChildren();
  for (const r of rules) {
    const link = "/?" + new URLSearchParams({ q: r.expr });
    body.append(el("tr", { class: "alert-" + r.state },
      el("td", {}, r.name), el("td", {}, r.state), el("td", {}, r.health + (r.lastError ? ": " + r.lastError : "")),
      el("td", { class: "text" }, el("a", { href: link, class: "rule-expr" }, r.expr)), el("td", {}, (r.lastEvaluation || "") + (r.evaluatedBy ? " by " + r.evaluatedBy : ""))));
    const caption = el("figcaption", {},
      el("strong", {}, r.name), " ", el("span", { class: "rule-state" }, r.state + " / " + r.health),
      r.lastError ? el("div", { class: "error" }, r.lastError) : "");
    const img = chartImg(localUrl(r.graphURL) + "&w=500&h=200&theme=" + pageTheme(), "chart of " + r.name);
    grid.append(el("figure", { class: "rule" }, caption, el("a", { href: link }, img), el("code", {}, r.expr)));
  }
  if (rules.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: "5" }, "No rules loaded (start the server with --rules FILE).")));
    grid.append(el("p", {}, "No rules loaded (start the server with --rules FILE)."));
  }
}

function showSilences(list) {
  const body = $("silences-table").tBodies[0];
  body.replaceChildren();
  for (const s of list) {
    const state = s.status ? s.status.state : "";
    const expire = state === "expired" ? "" : el("button", { type: "button", class: "silence-expire", onclick: () => expireSilence(s.id) }, "Expire");
    body.append(el("tr", { "data-id": s.id, class: "silence-" + state },
      el("td", { class: "text" }, s.id), el("td", {}, state), el("td", { class: "text" }, s.matchers.map(matcherText).join(", ")),
      el("td", {}, s.endsAt), el("td", {}, s.createdBy || ""), el("td", { class: "text" }, s.comment || ""), el("td", {}, expire)));
  }
  if (list.length === 0) body.append(el("tr", {}, el("td", { colspan: "7" }, "No silences.")));
}

async function refreshAlerts() {
  const [rules, alerts, silences] = await Promise.all([getJson("/api/v1/rules"), getJson("/api/v1/alerts"), getJson("/api/v1/silences")]);
  const failed = [rules, alerts, silences].find((r) => !r.ok);
  if (failed) {
    $("alerts-error").textContent = errorText(failed);
    $("alerts-error").hidden = false;
    return;
  }
  $("alerts-error").hidden = true;
  alertsData = { alerts: Array.isArray(alerts.body) ? alerts.body : (alerts.body.alerts || []) };
  showRules(rules.body.rules || []);
  showAlerts();
  showSilences(silences.body || []);
  $("alerts-updated").textContent = "updated " + new Date().toLocaleTimeString();
}

async function expireSilence(id) {
  const r = await getJson("/api/v1/silences/" + encodeURIComponent(id), { method: "DELETE" });
  $("silence-status").textContent = r.ok ? "expired " + id : "";
  if (!r.ok) { $("silence-error").textContent = errorText(r); $("silence-error").hidden = false; }
  await refreshAlerts();
}

async function createSilence(ev) {
  ev.preventDefault();
  const err = $("silence-error");
  err.hidden = true;
  let matchers;
  try { matchers = parseMatchers($("silence-matchers").value); } catch (e) { err.textContent = e.message; err.hidden = false; return; }
  const body = {
    matchers,
    endsAt: new Date(Date.now() + Number($("silence-duration").value)).toISOString(),
    comment: $("silence-comment").value.trim(),
    createdBy: $("silence-by").value.trim(),
  };
  const r = await getJson("/api/v1/silences", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!r.ok) { err.textContent = errorText(r); err.hidden = false; return; }
  $("silence-status").textContent = "created " + r.body.silenceID;
  $("silence-matchers").value = "";
  await refreshAlerts();
}

let alertsTimer = null;
function scheduleAlerts() {
  clearInterval(alertsTimer);
  const secs = Number($("alerts-refresh").value);
  if (secs > 0) alertsTimer = setInterval(refreshAlerts, secs * 1000);
}

function initAlerts() {
  const params = new URLSearchParams(location.search);
  if (params.get("filter")) $("alerts-filter").value = params.get("filter");
  $("alerts-filter").addEventListener("input", () => {
    const p = new URLSearchParams(location.search);
    p.set("filter", $("alerts-filter").value);
    history.replaceState(null, "", "/?" + p);
    showAlerts();
  });
  $("silence-form").addEventListener("submit", createSilence);
  $("alerts-refresh").addEventListener("change", scheduleAlerts);
  refreshAlerts();
  scheduleAlerts();
}
