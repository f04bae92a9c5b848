#!/usr/bin/env python3
"""Like-for-like ingest and query benchmark: Sextant, VictoriaMetrics and Prometheus.

Each server is started alone on loopback with its own temporary data directory, loaded with
the same seeded dataset (benches/src/peers.rs), polled until a count query sees every point,
then queried; it is stopped (also on failure or Ctrl-C) before the next one starts. See
benches/peers/README.md for what is measured and compared.

    benches/peers/run.py --series 1000 --points 30 --runs 1     # a quick check
    benches/peers/run.py --runs 3                               # 10 k series x 180 points
    benches/peers/run.py --series 100000 --runs 3

Exit status: 0 when every server gave the expected answer to every check, 2 when any answer
disagrees (or a server never stored every point), 1 on any other failure.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from processes import CHILDREN, cpu_seconds, free_port, start, stop, stop_all  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVERS = ("sextant", "victoriametrics", "prometheus")
# Count queries run after a load to measure what one poll costs the server.
POLL_COST_REPEATS = 5
# Relative tolerance of a sum: the servers add the same values in different orders.
SUM_TOLERANCE = 1e-9


def log(msg):
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    """A step that cannot go on (a server that does not start, a failed request)."""


# ---------------------------------------------------------------- processes and HTTP


def http(url, data=None, method=None, timeout=60):
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(what, check, deadline_s, proc=None, interval=0.1):
    """Calls check() until it returns a true value or the deadline passes."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise Failure(f"{what}: the process exited with {proc.returncode}")
        try:
            last = check()
            if last:
                return last
        except (OSError, ValueError, urllib.error.URLError) as e:
            last = e
        time.sleep(interval)
    raise Failure(f"{what}: not within {deadline_s} s (last: {last!r})")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


# ---------------------------------------------------------------- answers


def lines_atlas(body):
    """The lines of a Sextant std.json graph answer: (tags, {timestamp ms: value})."""
    answer = json.loads(body)
    lines = [(tags, {}) for tags in answer["metrics"]]
    for row, values in enumerate(answer["values"]):
        t = answer["start"] + row * answer["step"]
        for (_, line), v in zip(lines, values):
            if isinstance(v, (int, float)) and v == v:
                line[t] = v
    return lines


def lines_prom(body):
    """The lines of a Prometheus API answer (matrix or vector): (labels, {timestamp ms: value})."""
    answer = json.loads(body)
    if answer.get("status") != "success":
        raise Failure(f"query failed: {answer}")
    lines = []
    for series in answer["data"]["result"]:
        pairs = series.get("values") or [series["value"]]
        values = {round(float(t) * 1000): float(v) for t, v in pairs}
        lines.append((series["metric"], {t: v for t, v in values.items() if v == v}))
    return lines


def total(lines):
    return sum(v for _, line in lines for v in line.values())


def close(a, b):
    return abs(a - b) <= SUM_TOLERANCE * max(1.0, abs(a), abs(b))


def compare(check, lines, manifest):
    """Sum and count of an answer's values, and how its lines differ from the expected ones:
    a line missing or extra, a value missing, extra or different at some timestamp."""
    got = {}
    for tags, line in lines:
        got.setdefault(tags.get(check["by"], "<no " + check["by"] + ">"), {}).update(line)
    diffs = []
    for group in sorted(set(got) | set(check["expected"])):
        want = check["expected"].get(group)
        have = got.get(group, {})
        if want is None:
            diffs.append(f"extra line {check['by']}={group}")
            continue
        for k, w in enumerate(want):
            t = manifest["start_ms"] + k * manifest["step_ms"]
            h = have.get(t)
            if (w is None) != (h is None) or (w is not None and not close(w, h)):
                diffs.append(f"{check['by']}={group} at {t}: {h} (expected {w})")
    count = sum(len(line) for line in got.values())
    return {"sum": total(lines), "values": count, "diffs": len(diffs), "first_diffs": diffs[:5]}


class Sextant:
    name = "sextant"

    def __init__(self, args, manifest, work):
        self.args, self.m, self.work = args, manifest, work
        self.data = os.path.join(work, "sextant-data")
        self.logfile = os.path.join(work, "sextant.log")
        self.binary = os.path.join(args.target_dir, "release", "sextant")
        self.procs = []

    def start(self):
        os.makedirs(self.data)
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:0", "--max-age", "4h",
               "--data-dir", self.data]
        self.proc = start(cmd, self.logfile, self.args.server_cpu)
        self.procs = [self.proc]

        def listening():
            with open(self.logfile, errors="replace") as f:
                m = re.search(r"listening on (http://[0-9.:]+)", f.read())
            return m and m.group(1)

        self.url = wait_for("sextant start", listening, 60, self.proc)
        wait_for("sextant health", lambda: http(self.url + "/healthcheck")[0] == 200, 30, self.proc)

    def load(self):
        return send(self.args, self.url + "/api/v1/publish",
                    os.path.join(self.args.dataset, "atlas"), "application/json")

    def window(self):
        m = self.m
        return {"s": str(m["start_ms"] - m["step_ms"]), "e": str(m["end_ms"]), "step": "1m",
                "w": "1440", "format": "std.json"}

    def query(self, expr):
        params = dict(self.window(), q=expr)
        status, body = http(self.url + "/api/v1/graph?" + urllib.parse.urlencode(params))
        if status != 200:
            raise Failure(f"sextant query {expr}: {status} {body[:300]!r}")
        return lines_atlas(body)

    def stored(self):
        return int(round(total(self.query("name,peers_,:re,:count"))))

    def expected_stored(self):
        return self.m["sextant_stored"]

    def sizes(self):
        status, body = http(self.url + "/api/v1/stats")
        s = json.loads(body)
        points = s["sealedDatapoints"] + s["openDatapoints"]
        return {
            "data_bytes_per_point": (s["sealedBytes"] + s["openBytes"]) / max(1, points),
            "disk_bytes": du(self.data),
            "stats": {k: s[k] for k in ("series", "sealedDatapoints", "openDatapoints",
                                        "sealedBytes", "openBytes", "memoryBytes")},
            "not_applied": {k: s["ingest"][k] for k in ("counterPrimed", "duplicate",
                                                         "outOfOrder", "late")},
            "memory_bytes_per_point": s["memoryBytes"] / max(1, points),
        }

    def stop(self):
        for p in self.procs:
            stop(p)


class PromApi:
    """What VictoriaMetrics and Prometheus share: PromQL over /api/v1/query_range."""

    extra = {}

    def query(self, expr):
        m = self.m
        params = dict(query=expr, start=m["start_ms"] / 1000, end=m["end_ms"] / 1000,
                      step=m["step_ms"] / 1000, **self.extra)
        status, body = http(self.url + "/api/v1/query_range?" + urllib.parse.urlencode(params))
        if status != 200:
            raise Failure(f"{self.name} query {expr}: {status} {body[:300]!r}")
        return lines_prom(body)

    polls = 0

    def stored(self):
        m = self.m
        window = m["points"] * m["step_ms"] // 1000
        # A matcher that changes with every poll and matches every series: VictoriaMetrics
        # caches the series a filter selected, so an early poll that found none would hide
        # the new series for seconds (8 s instead of 1 s on 30 k points).
        self.polls += 1
        selector = f'{{__name__=~"peers_.*",peers_poll!="{self.polls}"}}'
        params = dict(query=f"sum(count_over_time({selector}[{window}s]))",
                      time=m["end_ms"] / 1000, **self.extra)
        status, body = http(self.url + "/api/v1/query?" + urllib.parse.urlencode(params))
        if status != 200:
            raise Failure(f"{self.name} count: {status} {body[:300]!r}")
        return int(round(total(lines_prom(body))))

    def expected_stored(self):
        return self.m["datapoints"]

    def stop(self):
        for p in self.procs:
            stop(p)


class VictoriaMetrics(PromApi):
    name = "victoriametrics"
    # Bypass the rollup result cache, so repeats measure the query and not the cache.
    extra = {"nocache": "1"}

    def __init__(self, args, manifest, work):
        self.args, self.m, self.work = args, manifest, work
        self.data = os.path.join(work, "vm-data")
        self.procs = []

    def start(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        cmd = ["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}",
               f"-storageDataPath={self.data}", "-retentionPeriod=1",
               "-search.latencyOffset=0s"]
        self.proc = start(cmd, os.path.join(self.work, "vm.log"), self.args.server_cpu)
        self.procs = [self.proc]
        wait_for("victoria-metrics health", lambda: http(self.url + "/health")[0] == 200, 60,
                 self.proc)

    def load(self):
        return send(self.args, self.url + "/api/v1/import/prometheus",
                    os.path.join(self.args.dataset, "prometheus"), "text/plain")

    def storage(self):
        _, body = http(self.url + "/metrics")
        found = {}
        for line in body.decode().splitlines():
            m = re.match(r'(vm_data_size_bytes|vm_rows|vm_parts)\{type="(storage/[^"]*)"\} (\S+)',
                         line)
            if m:
                found[m.group(1)] = found.get(m.group(1), 0) + float(m.group(3))
        return found

    def sizes(self):
        http(self.url + "/internal/force_flush")
        # Freshly flushed parts are merged in the background into fewer, better compressed
        # ones (30 k points: 2 parts and 704 kB, then 1 part and 443 kB a few seconds later):
        # read the sizes once they have stayed the same for 3 s.
        last, same, deadline = None, 0, time.monotonic() + 60
        while same < 3 and time.monotonic() < deadline:
            now = (self.storage(), du(self.data))
            same = same + 1 if now == last else 0
            last = now
            time.sleep(1)
        storage, disk = last
        size, rows = storage.get("vm_data_size_bytes", 0), storage.get("vm_rows", 0)
        return {
            "data_bytes_per_point": size / rows if rows else None,
            "disk_bytes": disk,
            "stats": {"storage_bytes": size, "storage_rows": rows,
                      "storage_parts": storage.get("vm_parts")},
        }


class Prometheus(PromApi):
    name = "prometheus"

    def __init__(self, args, manifest, work):
        self.args, self.m, self.work = args, manifest, work
        self.data = os.path.join(work, "prom-data")
        self.queue = os.path.join(work, "vmagent-queue")
        self.procs = []

    def start(self):
        port, agent_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = os.path.join(self.work, "prometheus.yml")
        with open(config, "w") as f:
            # No scrape jobs (the Debian default scrapes :9100); out-of-order samples are
            # accepted within 4 h, as by Sextant's --max-age 4h, since vmagent sends
            # concurrently and two bodies may arrive in either order.
            f.write("global:\n  scrape_interval: 1m\nscrape_configs: []\n"
                    "storage:\n  tsdb:\n    out_of_order_time_window: 4h\n")
        cmd = ["prometheus", f"--config.file={config}",
               f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={self.data}",
               "--storage.tsdb.retention.time=1d", "--web.enable-remote-write-receiver",
               "--web.enable-admin-api"]
        self.proc = start(cmd, os.path.join(self.work, "prometheus.log"), self.args.server_cpu)
        wait_for("prometheus ready", lambda: http(self.url + "/-/ready")[0] == 200, 60, self.proc)
        self.agent_url = f"http://127.0.0.1:{agent_port}"
        agent = ["vmagent", f"-httpListenAddr=127.0.0.1:{agent_port}",
                 f"-remoteWrite.url={self.url}/api/v1/write",
                 f"-remoteWrite.tmpDataPath={self.queue}"]
        self.agent = start(agent, os.path.join(self.work, "vmagent.log"), self.args.client_cpu)
        self.procs = [self.agent, self.proc]
        wait_for("vmagent health", lambda: http(self.agent_url + "/health")[0] == 200, 60,
                 self.agent)

    def load(self):
        return send(self.args, self.agent_url + "/api/v1/import/prometheus",
                    os.path.join(self.args.dataset, "prometheus"), "text/plain")

    def sizes(self):
        disk = du(self.data)
        status, body = http(self.url + "/api/v1/admin/tsdb/snapshot?skip_head=false",
                            method="POST", timeout=300)
        chunk_bytes, samples = 0, 0
        if status == 200:
            snap = os.path.join(self.data, "snapshots", json.loads(body)["data"]["name"])
            for block in os.listdir(snap):
                meta = os.path.join(snap, block, "meta.json")
                if os.path.exists(meta):
                    with open(meta) as f:
                        samples += json.load(f)["stats"]["numSamples"]
                    chunks = os.path.join(snap, block, "chunks")
                    chunk_bytes += sum(os.path.getsize(os.path.join(chunks, f))
                                       for f in os.listdir(chunks))
        _, body = http(self.url + "/metrics")
        appended = {}
        for line in body.decode().splitlines():
            m = re.match(r"prometheus_tsdb_(head_samples_appended_total|"
                         r"head_out_of_order_samples_appended_total|"
                         r"out_of_order_samples_total)(\{[^}]*\})? (\S+)", line)
            if m:
                appended[m.group(1)] = appended.get(m.group(1), 0) + float(m.group(3))
        return {
            "data_bytes_per_point": chunk_bytes / samples if samples else None,
            "disk_bytes": disk,
            "stats": {"snapshot_chunk_bytes": chunk_bytes, "snapshot_samples": samples,
                      **appended},
        }


def send(args, url, directory, content_type):
    cmd = [os.path.join(args.target_dir, "release", "peers"), "send", "--url", url,
           "--dir", directory, "--connections", str(args.connections),
           "--content-type", content_type]
    if args.client_cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(args.client_cpu)] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    CHILDREN.append(proc)
    out, err = proc.communicate()
    CHILDREN.remove(proc)
    if proc.returncode != 0:
        raise Failure(f"sender failed: {err.decode(errors='replace')}")
    return json.loads(out)


# ---------------------------------------------------------------- one run of one server


def run_server(cls, args, manifest, run):
    work = tempfile.mkdtemp(prefix=f"peers-{cls.name}-", dir=args.work)
    server = cls(args, manifest, work)
    try:
        log(f"run {run}: {cls.name}: starting")
        server.start()
        pid = server.proc.pid
        cpu0 = cpu_seconds(pid)
        agent0 = cpu_seconds(server.agent.pid) if hasattr(server, "agent") else None
        t0 = time.monotonic()
        sent = server.load()
        t_sent = time.monotonic()
        expected = server.expected_stored()
        log(f"run {run}: {cls.name}: {sent['bodies']} bodies answered in {sent['seconds']:.2f} s"
            f" {sent['statuses']}; waiting for {expected} stored points")
        # Polled only once every body is answered, so the polls do not slow the load; their
        # CPU is measured afterwards and taken out of the server's.
        stored, polls = None, 0
        deadline = time.monotonic() + args.store_deadline
        changed = time.monotonic()
        while time.monotonic() < deadline:
            count = server.stored()
            polls += 1
            if count != stored:
                stored, changed = count, time.monotonic()
            # A count that stops short and stays put: points were lost, not delayed.
            if stored >= expected or time.monotonic() - changed > args.settle:
                break
            time.sleep(0.1)
        t_visible = time.monotonic()
        cpu_visible = cpu_seconds(pid)
        if agent0 is not None:
            relay_cpu = cpu_seconds(server.agent.pid) - agent0
        poll_cpu = cpu_seconds(pid)
        for _ in range(POLL_COST_REPEATS):
            server.stored()
        poll_cpu = (cpu_seconds(pid) - poll_cpu) / POLL_COST_REPEATS
        cpu = max(0.0, cpu_visible - cpu0 - polls * poll_cpu)
        result = {
            "server": cls.name,
            "run": run,
            "sent": sent,
            "stored": stored,
            "expected_stored": expected,
            "answer_seconds": sent["seconds"],
            "visible_seconds": t_visible - t0,
            "accepted_dps": manifest["datapoints"] / sent["seconds"],
            "visible_dps": manifest["datapoints"] / (t_visible - t0)
            if stored == expected else None,
            "cpu_seconds": cpu,
            "count_polls": polls,
            "cpu_seconds_per_poll": poll_cpu,
            "dp_per_cpu_second": manifest["datapoints"] / cpu if cpu > 0 else None,
        }
        if agent0 is not None:
            result["relay_cpu_seconds"] = relay_cpu
        if stored != expected:
            log(f"run {run}: {cls.name}: STORED {stored} OF {expected} POINTS "
                f"after {t_visible - t_sent:.1f} s")
        result.update(server.sizes())
        result["disk_bytes_per_point"] = result["disk_bytes"] / manifest["datapoints"]
        answers, latency = {}, {}
        for check in manifest["checks"]:
            expr = check["atlas"] if cls is Sextant else check["promql"]
            answers[check["name"]] = compare(check, server.query(expr), manifest)
            times = []
            for _ in range(args.query_reps):
                q0 = time.perf_counter()
                server.query(expr)
                times.append(time.perf_counter() - q0)
            latency[check["name"]] = statistics.median(times) * 1000
        result["answers"] = answers
        result["query_p50_ms"] = latency
        result["rss_bytes"] = rss_bytes(pid)
        return result
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- report


def spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    mid = fmt(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt(min(values))}–{fmt(max(values))})"


def millions(v):
    return f"{v / 1e6:.3f} M"


def thousands(v):
    return f"{v / 1e3:.0f} k"


def report(results, manifest, servers):
    by = {s: [r for r in results if r["server"] == s] for s in servers}
    columns = [
        ("accepted dp/s", lambda r: r["accepted_dps"], millions),
        ("stored dp/s", lambda r: r["visible_dps"], millions),
        ("server CPU-s", lambda r: r["cpu_seconds"], lambda v: f"{v:.2f}"),
        ("dp per CPU-s", lambda r: r["dp_per_cpu_second"], thousands),
        ("B/pt data", lambda r: r["data_bytes_per_point"], lambda v: f"{v:.2f}"),
        ("B/pt disk", lambda r: r["disk_bytes_per_point"], lambda v: f"{v:.2f}"),
        ("RSS MiB", lambda r: r["rss_bytes"], lambda v: f"{v / 2**20:.0f}"),
        ("group-by p50 ms", lambda r: r["query_p50_ms"]["group-by"], lambda v: f"{v:.1f}"),
        ("single-node p50 ms", lambda r: r["query_p50_ms"]["single node"],
         lambda v: f"{v:.1f}"),
        ("regex p50 ms", lambda r: r["query_p50_ms"]["regex"], lambda v: f"{v:.1f}"),
    ]
    runs = max(len(v) for v in by.values())
    print(f"\n{manifest['series']} series x {manifest['points']} points "
          f"({manifest['datapoints']} dp, seed {manifest['seed']}), bodies of "
          f"{manifest['batch']} dp, {runs} run(s); median (min–max)\n")
    print("| measure | " + " | ".join(servers) + " |")
    print("|---|" + "---:|" * len(servers))
    for title, get, fmt in columns:
        cells = [spread([get(r) for r in by[s]], fmt) for s in servers]
        print(f"| {title} | " + " | ".join(cells) + " |")
    print("\nChecks: every line's value at every timestamp against the generator's; the "
          "cells give the sum of the answer / its number of values / values that differ\n")
    print("| check | expected | " + " | ".join(servers) + " |")
    print("|---|---:|" + "---:|" * len(servers))
    failures = []
    for check in manifest["checks"]:
        name = check["name"]
        cells = []
        for s in servers:
            got = sorted({(round(r["answers"][name]["sum"], 6), r["answers"][name]["values"],
                           r["answers"][name]["diffs"]) for r in by[s]})
            cells.append("; ".join(f"{v:.6f} / {n} / {d}" for v, n, d in got))
            for r in by[s]:
                a = r["answers"][name]
                if a["diffs"]:
                    failures.append(f"{s} run {r['run']}: {name}: {a['diffs']} values differ, "
                                    f"e.g. {'; '.join(a['first_diffs'])}")
        print(f"| {name} | {check['expected_sum']:.6f} / {check['expected_cells']} / 0 | "
              + " | ".join(cells) + " |")
    for s in servers:
        for r in by[s]:
            if r["stored"] != r["expected_stored"]:
                failures.append(f"{s} run {r['run']}: count query saw {r['stored']} points, "
                                f"expected {r['expected_stored']}")
    notes = []
    for r in by.get("sextant", []):
        notes.append(f"sextant run {r['run']}: memory {r['memory_bytes_per_point']:.2f} B/pt "
                     f"(memoryBytes / stored points), samples not applied {r['not_applied']}, "
                     f"stats {r['stats']}")
    for r in by.get("prometheus", []):
        notes.append(f"prometheus run {r['run']}: vmagent (the relay, not counted above) used "
                     f"{r['relay_cpu_seconds']:.2f} CPU-s; snapshot {r['stats']}")
    for r in by.get("victoriametrics", []):
        notes.append(f"victoriametrics run {r['run']}: {r['stats']}")
    for r in results:
        if r["sent"]["problems"]:
            notes.append(f"{r['server']} run {r['run']}: answers not 200/204: "
                         f"{r['sent']['problems']}")
    if notes:
        print("\nNotes:\n" + "\n".join(f"- {n}" for n in notes))
    if failures:
        bar = "!" * 78
        print(f"\n{bar}\nDISAGREEMENT: a server did not store or answer what was sent\n"
              + "\n".join(f"  {f}" for f in failures) + f"\n{bar}")
    return not failures


# ---------------------------------------------------------------- setup


def ensure_peers(servers):
    wanted = []
    if "victoriametrics" in servers and not shutil.which("victoria-metrics"):
        wanted.append("victoria-metrics")
    if "prometheus" in servers:
        if not shutil.which("prometheus"):
            wanted.append("prometheus")
        # vmagent relays Prometheus text to Prometheus's remote-write receiver; Debian ships
        # it in the victoria-metrics package.
        if not shutil.which("vmagent") and "victoria-metrics" not in wanted:
            wanted.append("victoria-metrics")
    if not wanted:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    log(f"installing {' '.join(wanted)} from Debian")
    subprocess.run(sudo + ["apt-get", "update"], check=True)
    subprocess.run(sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + wanted,
                   check=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    for binary in ("victoria-metrics", "vmagent", "prometheus"):
        if binary in ("victoria-metrics", "vmagent") or "prometheus" in servers:
            if not shutil.which(binary):
                raise Failure(f"{binary} is still missing after apt-get install")


def build(args):
    for package, binary in (("sextant-server", "sextant"), ("sextant-benches", "peers")):
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", package,
                        "--bin", binary], check=True, cwd=REPO)


def generate(args):
    # The last point a minute before the current one: every server takes it as recent data,
    # and all three hours are inside Sextant's --max-age 4h for the next ~50 minutes.
    end_ms = (int(time.time() * 1000) // 60_000 - 1) * 60_000
    out = os.path.join(args.work, "dataset")
    shutil.rmtree(out, ignore_errors=True)
    log(f"generating {args.series} series x {args.points} points into {out}")
    subprocess.run([os.path.join(args.target_dir, "release", "peers"), "gen",
                    "--series", str(args.series), "--points", str(args.points),
                    "--seed", str(args.seed), "--end-ms", str(end_ms),
                    "--batch", str(args.batch), "--out", out], check=True)
    with open(os.path.join(out, "manifest.json")) as f:
        return out, json.load(f)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--points", type=int, default=180,
                   help="one-minute points per series (at most 200: Sextant's --max-age 4h)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=10_000, help="datapoints per body")
    p.add_argument("--connections", type=int, default=2, help="concurrent keep-alive senders")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--query-reps", type=int, default=20, help="timed repeats of each query")
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated subset of " + ",".join(SERVERS))
    p.add_argument("--work", help="scratch directory (default: a new one under $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep data directories and logs")
    p.add_argument("--no-build", action="store_true", help="use the existing release binaries")
    p.add_argument("--pin", action="store_true",
                   help="run each server on CPU 0 and the sender (and vmagent) on CPU 1")
    p.add_argument("--store-deadline", type=float, default=300,
                   help="seconds to wait for a server to show every point")
    p.add_argument("--settle", type=float, default=20,
                   help="seconds a count short of the expected may stay unchanged before the "
                   "points are taken as lost")
    p.add_argument("--json", help="also write every figure of every run to this file")
    args = p.parse_args()
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        p.error(f"unknown servers: {', '.join(sorted(unknown))}")
    if not 2 <= args.points <= 200:
        p.error("--points must be 2..200")
    args.server_cpu, args.client_cpu = (0, 1) if args.pin else (None, None)
    args.target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    own_work = args.work is None
    args.work = args.work or tempfile.mkdtemp(prefix="peers-")
    os.makedirs(args.work, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ok = False
    try:
        ensure_peers(servers)
        if not args.no_build:
            build(args)
        args.dataset, manifest = generate(args)
        classes = {"sextant": Sextant, "victoriametrics": VictoriaMetrics,
                   "prometheus": Prometheus}
        results = []
        for run in range(1, args.runs + 1):
            for s in servers:
                # Same values, later timestamps, once the oldest point nears --max-age 4h.
                if time.time() * 1000 - manifest["start_ms"] > 3.75 * 3600 * 1000:
                    args.dataset, manifest = generate(args)
                results.append(run_server(classes[s], args, manifest, run))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"manifest": manifest, "results": results}, f, indent=1)
        ok = report(results, manifest, servers)
        return 0 if ok else 2
    except (Failure, OSError, subprocess.CalledProcessError, urllib.error.URLError) as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        stop_all()
        if own_work and not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
        elif args.keep:
            log(f"kept {args.work}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
