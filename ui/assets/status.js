// The status view: what this node holds (series, memory, checkpoints) and, in a cluster,
// the members with their live partitions, every partition's owners and which of them
// have it live (what queries are routed by), and this node's lag. Refreshes every 5 s.
"use strict";

function statusRow(cells, header) {
  const tr = el("tr");
  for (const c of cells) tr.append(el(header ? "th" : "td", {}, String(c)));
  return tr;
}

function statusTable(id, head, rows) {
  const t = $(id);
  t.replaceChildren(statusRow(head, true), ...rows.map((r) => statusRow(r, false)));
}

function renderStatus(s) {
  $("status-node").textContent = (s.cluster ? "node " + s.cluster.nodeId + ": " : "single node: ") +
    (s.series ?? "?") + " series, " + fmt(s.memoryBytes ?? NaN) + "B in memory";
  const c = s.cluster;
  $("status-cluster").hidden = !c;
  if (!c) return;
  $("status-summary").textContent = c.members.length + " members, " + c.settings.partitions +
    " partitions, " + c.settings.owners + " owners each; this node owns " + c.owned +
    " (" + c.catchingUp + " catching up, lag " + c.lag + " messages); " +
    c.withoutLiveOwner + " without a live owner";
  $("status-summary").classList.toggle("error", c.withoutLiveOwner > 0);
  statusTable("status-members", ["member", "url", "live partitions"],
    Object.entries(c.peers || {}).map(([id, p]) => [id, p.url, p.live.length]));
  statusTable("status-partitions", ["partition", "owners", "live on", "lag here"],
    Object.entries(c.owners || {})
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([p, o]) => [p, o.owners.join(", "), o.live.join(", ") || "none",
        c.partitions[p] ? c.partitions[p].lag : ""]));
}

async function loadStatus() {
  const err = $("status-error");
  try {
    const r = await api("/api/v1/stats");
    if (!r.ok) throw new Error("stats: HTTP " + r.status);
    renderStatus(await r.json());
    err.hidden = true;
  } catch (e) {
    err.textContent = String(e.message || e);
    err.hidden = false;
  }
}

function initStatus() {
  loadStatus();
  setInterval(loadStatus, 5000);
}
