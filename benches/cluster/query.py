#!/usr/bin/env python3
"""Cluster queries against a single node with the same data (issue 18, docs/cluster.md).

For each series count it generates the peers benchmark's seeded dataset (benches/src/peers.rs:
`peers_gauge` and `peers_counter` over apps, regions and nodes) plus percentile timers
(benches/src/timers.rs: one timer of 20 bucket series per 200 series), `--points` one-minute
values each, and loads it in order (`--connections 1`) into one Sextant node alone and into
clusters of 3 nats-servers (one JetStream cluster) and 3 Sextant nodes (P partitions, stream
replicas R, owners F; the bodies go through node0, then it waits until every owner has
applied everything and every node answers complete). At the smallest series count there is
a cluster for each P of `--sweep` (what each partition of the fan-out costs), at the others
one of `--partitions`, and with `--compare NAME=BINARY` one more running another build.

All of them stay up while the queries are timed, and they are asked in rounds: each query
`--reps` times, every side once a round in an order that rotates, a cluster's receiving node
taking turns over its three. The load other programs put on the machine so falls on every
side alike, and the ratios come from one run. Latency is the wall time of one
`GET /api/v1/graph` (format=json) on a kept-alive connection, request sent to last byte
read, after `--warmup` unmeasured asks per node; CPU per query is utime+stime of the side's
Sextant processes around each ask. Every node takes samples up to `--max-age-h` old (the
backfill) and keeps no write-ahead log or checkpoints (`--no-persist`); the timing starts
once every process it started has been idle for 2 s.

Every cluster node's answer is checked against the single node's: the same bytes, or the
same lines with values equal within a relative 1e-9 (a sum added in another order may differ
in its last bits). Any other difference, or an answer marked partial, fails the run (exit 2).

    benches/cluster/query.py                                   # builds release binaries first
    benches/cluster/query.py --no-build --series 10000 --sweep 16,64,256 --reps 40
    benches/cluster/query.py --no-build --series 100000 --sweep 64 --compare old=/tmp/sextant

Prints Markdown tables (stdout) and JSON (--json FILE). Everything it starts is stopped on
any exit path, by PID; files go to a temp directory that is removed at the end.
"""

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from processes import CHILDREN, cpu_seconds, start, stop, stop_all  # noqa: E402

# nodes.py sits next to this script, so it is on the path.
from nodes import get_json, listening, settled, start_nats, start_nodes, wait_for  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEP_MS = 60_000
# Series per percentile timer added to the peers series (each timer is 20 bucket series).
SERIES_PER_TIMER = 200
BUCKETS = 20
# Relative difference two answers' values may have: sums added in another order.
TOLERANCE = 1e-9

QUERIES = [
    ("group-by", "name,peers_gauge,:eq,:sum,(,app,),:by"),
    ("sum", "name,peers_gauge,:eq,:sum"),
    ("percentiles", "name,bench_latency,:eq,(,app,),:by,(,50,90,99,),:percentiles"),
    ("counter rates by region", "name,peers_counter,:eq,(,region,),:by"),
    ("matches nothing", "name,bench_nothing,:eq,:sum"),
]


def log(msg):
    print(f"[query-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Client:
    """One kept-alive HTTP connection to a node."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.url, self.host, self.port = url, u.hostname, u.port
        self.conn = None

    def get(self, path):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                return r.status, dict(r.getheaders()), r.read()
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle connection: open another, once.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()


def graph_path(expr, ds):
    params = {"q": expr, "s": str(ds["start_ms"] - STEP_MS), "e": str(ds["end_ms"]),
              "step": "1m", "w": "1440", "format": "json"}
    return "/api/v1/graph?" + urllib.parse.urlencode(params)


def count(client, ds):
    """Values stored: every value of a :count over the window, added up; and the partial
    marks of the answers."""
    total, partial = 0, []
    for expr in ("name,peers_,:re,:count", "name,bench_latency,:eq,:count"):
        status, headers, body = client.get(graph_path(expr, ds))
        if status != 200:
            raise RuntimeError(f"count {expr}: {status} {body[:300]!r}")
        partial += [v for k, v in headers.items() if "partial" in k.lower()]
        for row in json.loads(body)["values"]:
            total += sum(v for v in row if v == v)
    return int(round(total)), partial


def wait_stored(client, ds, settle=20, timeout=600):
    """Polls the count until it is the dataset's in a complete answer; a count past it, or
    one that stops short and stays put for `settle` s (points lost), fails the run."""
    last, changed = None, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n, partial = count(client, ds)
        if n != last:
            last, changed = n, time.monotonic()
        if n > ds["expected"]:
            raise RuntimeError(f"stored {n} values, more than the {ds['expected']} sent")
        if n == ds["expected"] and not partial:
            return n
        if time.monotonic() - changed > settle:
            break
        time.sleep(0.5)
    raise RuntimeError(f"stored {last} of {ds['expected']} values")


# ---------------------------------------------------------------- data


def generate(args, series):
    end_ms = (int(time.time() * 1000) // STEP_MS - 1) * STEP_MS
    out = os.path.join(args.work, f"dataset-{series}")
    shutil.rmtree(out, ignore_errors=True)
    timers = max(1, series // SERIES_PER_TIMER)
    log(f"generating {series} series + {timers} timers x {args.points} points into {out}")
    peers = os.path.join(args.target, "release", "peers")
    common = ["--points", str(args.points), "--seed", str(args.seed), "--end-ms", str(end_ms),
              "--batch", str(args.batch)]
    subprocess.run([peers, "gen", "--series", str(series), "--out", out] + common, check=True)
    subprocess.run([peers, "timers", "--timers", str(timers), "--out",
                    os.path.join(out, "atlas")] + common, check=True)
    # Only the Atlas bodies are sent.
    shutil.rmtree(os.path.join(out, "prometheus"), ignore_errors=True)
    with open(os.path.join(out, "manifest.json")) as f:
        m = json.load(f)
    return {"dir": os.path.join(out, "atlas"), "series": series, "timers": timers,
            "start_ms": m["start_ms"], "end_ms": m["end_ms"],
            "expected": m["sextant_stored"] + timers * BUCKETS * args.points}


def load(args, url, ds):
    age_h = (time.time() * 1000 - ds["start_ms"]) / 3.6e6
    if age_h > args.max_age_h - 0.25:
        raise RuntimeError(f"the dataset is {age_h:.2f} h old, too near --max-age")
    t0 = time.monotonic()
    out = subprocess.run(
        [os.path.join(args.target, "release", "peers"), "send", "--url",
         f"{url}/api/v1/publish", "--dir", ds["dir"], "--connections",
         str(args.connections)],
        check=True, capture_output=True, text=True)
    sent = json.loads(out.stdout)
    if sent["problems"]:
        raise RuntimeError(f"publish answers: {sent['problems']}")
    log(f"sent {sent['bodies']} bodies in {time.monotonic() - t0:.1f} s {sent['statuses']}")


# ---------------------------------------------------------------- measuring


def quantile(values, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


class Side:
    """One thing being queried: a single node, or a cluster of nodes taking turns."""

    def __init__(self, label, urls, procs):
        self.label, self.procs = label, procs
        self.clients = [Client(u) for u in urls]
        self.asks = 0
        self.series = {}
        self.partitions, self.build = None, None

    def ask(self, path):
        """(seconds, CPU-seconds of its Sextant processes, body) of one ask; the node that
        receives it takes turns."""
        c = self.clients[self.asks % len(self.clients)]
        self.asks += 1
        cpu0 = sum(cpu_seconds(p.pid) for p in self.procs)
        t0 = time.perf_counter()
        status, _, body = c.get(path)
        elapsed = time.perf_counter() - t0
        cpu = sum(cpu_seconds(p.pid) for p in self.procs) - cpu0
        if status != 200:
            raise RuntimeError(f"{self.label} on {c.url}: {status} {body[:300]!r}")
        return elapsed, cpu, body

    def answers(self, path):
        """One answer from each node, with its partial mark."""
        out = []
        for c in self.clients:
            status, headers, body = c.get(path)
            if status != 200:
                raise RuntimeError(f"{self.label} on {c.url}: {status} {body[:300]!r}")
            partial = {k: v for k, v in headers.items() if "partial" in k.lower()}
            out.append({"node": c.url, "body": body, "partial": partial})
        return out

    def close(self):
        for c in self.clients:
            c.close()


def measure(args, sides, ds):
    """Every query on every side: first one answer from each node, then `reps` rounds in
    which each side is asked once, in an order that rotates, so the load other programs
    put on the machine falls on every side alike."""
    out = {side.label: {} for side in sides}
    for name, expr in QUERIES:
        path = graph_path(expr, ds)
        for side in sides:
            for _ in range(args.warmup):
                for c in side.clients:
                    c.get(path)
        times = {side.label: [] for side in sides}
        cpu = {side.label: 0.0 for side in sides}
        for r in range(args.reps):
            for k in range(len(sides)):
                side = sides[(r + k) % len(sides)]
                t, c, _ = side.ask(path)
                times[side.label].append(t)
                cpu[side.label] += c
        for side in sides:
            answers = side.answers(path)
            t = times[side.label]
            out[side.label][name] = {
                "p50": quantile(t, 0.5) * 1e3, "p90": quantile(t, 0.9) * 1e3,
                "min": min(t) * 1e3, "cpuMsPerQuery": cpu[side.label] / args.reps * 1e3,
                "answers": answers, "lines": len(json.loads(answers[0]["body"])["metrics"])}
        log(f"  {name}: " + ", ".join(
            f"{side.label} p50 {out[side.label][name]['p50']:.1f} ms" for side in sides))
    return out


def start_single(args, ds, work):
    logfile = os.path.join(work, "single.log")
    proc = start([args.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                  os.path.join(work, "single")] + args.flags, logfile)
    url = listening(logfile, proc)
    log(f"single node at {url}")
    load(args, url, ds)
    side = Side("single", [url], [proc])
    wait_stored(side.clients[0], ds)
    side.series = {"single": get_json(f"{url}/api/v1/stats")["series"]}
    return side


def start_cluster(args, ds, partitions, work, build=None):
    """A cluster of `partitions` loaded with `ds`; its nodes run the binary of `build`
    (a --compare name) or the one built here."""
    label = f"P={partitions}" + (f" {build}" if build else "")
    tmp = os.path.join(work, label.replace("=", "").replace(" ", "-"))
    os.makedirs(tmp)
    _, nats = start_nats(tmp)
    nodes, urls = start_nodes(
        args.compare[build] if build else args.bin, tmp, nats, 3,
        args.flags + ["--cluster-partitions", str(partitions), "--cluster-replicas",
                      str(args.replicas), "--cluster-owners", str(args.owners)])
    log(f"cluster {label}: nodes at {', '.join(urls)}")
    wait_for("the cluster to settle", lambda: settled(urls, partitions, args.owners))
    load(args, urls[0], ds)
    wait_for("every owner to apply everything",
             lambda: settled(urls, partitions, args.owners), timeout=900)
    side = Side(label, urls, list(nodes.values()))
    side.partitions, side.build = partitions, build
    # A node learns which partitions its peers have live from their heartbeats: until
    # the next one after a rebalance its answers may be marked partial.
    for c in side.clients:
        wait_stored(c, ds)
    side.series = {f"node{i}": get_json(f"{u}/api/v1/stats")["series"]
                   for i, u in enumerate(urls)}
    return side


def quiesce(idle=0.03, timeout=300):
    """Waits until the processes started here use under `idle` of a core each (on average:
    an idle nats-server heartbeats and serves its consumers) for 2 s running, so work left
    over from loading is not timed."""
    quiet, deadline = 0, time.monotonic() + timeout
    idle *= len(CHILDREN)
    last = sum(cpu_seconds(p.pid) for p in CHILDREN)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(1)
        now = sum(cpu_seconds(p.pid) for p in CHILDREN)
        quiet = quiet + 1 if now - last < idle else 0
        last = now
    if quiet < 2:
        log(f"still busy after {timeout} s; timing anyway")


def run_series(args, n, partitions):
    """Loads a single node, a cluster for each of `partitions` and one for each --compare
    build, all kept running, and measures them side by side."""
    ds = generate(args, n)
    work = tempfile.mkdtemp(prefix=f"run-{n}-", dir=args.work)
    sides = []
    try:
        log(f"{n} series: single node")
        sides.append(start_single(args, ds, work))
        for p in partitions:
            log(f"{n} series: cluster, P={p}")
            sides.append(start_cluster(args, ds, p, work))
        for build in args.compare:
            log(f"{n} series: cluster, P={args.partitions}, {build}")
            sides.append(start_cluster(args, ds, args.partitions, work, build))
        shutil.rmtree(os.path.dirname(ds["dir"]), ignore_errors=True)
        quiesce()
        log(f"{n} series: queries, load average {os.getloadavg()}")
        result = measure(args, sides, ds)
        return {"series": n, "timers": ds["timers"], "values": ds["expected"],
                "held": {side.label: side.series for side in sides},
                "sweep": {side.label: side.partitions for side in sides
                          if side.label != "single" and side.build is None},
                "queries": result, "loadavg": os.getloadavg()}
    finally:
        # Nodes first: a node whose NATS is gone takes its timeouts to stop.
        for side in sides:
            side.close()
            for proc in side.procs:
                stop(proc)
        stop_all()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- answers


def lines(body):
    """(every field but the lines, {tags: values}) of a format=json answer."""
    a = json.loads(body)
    rest = {k: v for k, v in a.items() if k not in ("metrics", "values")}
    cols = {}
    for i, tags in enumerate(a["metrics"]):
        cols[json.dumps(tags, sort_keys=True)] = [row[i] for row in a["values"]]
    return rest, cols


def same(a, b):
    """'bytes' when identical, else the largest relative difference of two answers' values
    (None when their lines or other fields differ)."""
    if a == b:
        return "bytes"
    (ra, la), (rb, lb) = lines(a), lines(b)
    if ra != rb or set(la) != set(lb):
        return None
    worst = 0.0
    for k, va in la.items():
        for x, y in zip(va, lb[k]):
            if x != x or y != y:
                if (x != x) != (y != y):
                    return None
                continue
            if x != y:
                worst = max(worst, abs(x - y) / max(abs(x), abs(y)))
    return worst


def check(run):
    """Each cluster's answers against the single node's: per cluster and query, 'bytes' or
    the largest relative difference; and the problems found."""
    verdicts, problems = {}, []
    single = run["queries"]["single"]
    for label, queries in run["queries"].items():
        if label == "single":
            continue
        verdicts[label] = {}
        for name, _ in QUERIES:
            want = single[name]["answers"][0]["body"]
            worst = "bytes"
            for a in queries[name]["answers"]:
                where = f"{run['series']} series, {label}, {name} on {a['node']}"
                if a["partial"]:
                    problems.append(f"{where}: marked partial {a['partial']}")
                v = same(want, a["body"])
                if v is None or (v != "bytes" and v > TOLERANCE):
                    problems.append(f"{where}: differs from the single node "
                                    f"({'lines or fields' if v is None else f'rel. {v:.3g}'})")
                elif v != "bytes":
                    worst = v if worst == "bytes" else max(worst, v)
            verdicts[label][name] = worst
    return verdicts, problems


# ---------------------------------------------------------------- report


def report(args, runs):
    print(f"\n{args.points} one-minute points per series; {args.reps} rounds of asks per "
          f"query (single and each cluster once a round, rotating) after {args.warmup} "
          f"warm-up asks per node; R={args.replicas}, F={args.owners}.\n")
    print("| series | query | lines | single p50 / p90 ms | cluster | cluster p50 / p90 ms "
          "| **p50 ratio** | CPU ms per query, single / cluster | answers |")
    print("|---:|---|---:|---:|---|---:|---:|---:|---|")
    for run in runs:
        s = run["queries"]["single"]
        for label, queries in run["queries"].items():
            if label == "single":
                continue
            for name, _ in QUERIES:
                a, b = s[name], queries[name]
                ratio = b["p50"] / a["p50"] if a["p50"] else float("nan")
                v = run["same"][label][name]
                verdict = "same bytes" if v == "bytes" else f"values within {v:.1g}"
                print(f"| {run['series']:,} | {name} | {a['lines']} | {a['p50']:.1f} / "
                      f"{a['p90']:.1f} | {label} | {b['p50']:.1f} / {b['p90']:.1f} | "
                      f"**{ratio:.2f}x** | {a['cpuMsPerQuery']:.1f} / "
                      f"{b['cpuMsPerQuery']:.1f} | {verdict} |")
    for run in runs:
        ps = sorted(run["sweep"].values())
        if len(ps) < 2:
            continue
        lo, hi = ps[0], ps[-1]
        print(f"\nFan-out cost per partition at {run['series']:,} series "
              f"(P={lo} to P={hi}: p50 and CPU per query differences / {hi - lo}):\n")
        for name, _ in QUERIES:
            a = run["queries"][f"P={lo}"][name]
            b = run["queries"][f"P={hi}"][name]
            print(f"- {name}: {(b['p50'] - a['p50']) / (hi - lo) * 1e3:.1f} µs wall, "
                  f"{(b['cpuMsPerQuery'] - a['cpuMsPerQuery']) / (hi - lo) * 1e3:.1f} µs CPU")
    for run in runs:
        held = "; ".join(f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(h.items()))
                         for label, h in run["held"].items())
        print(f"\nSeries held at {run['series']:,} ({run['timers']} timers, "
              f"{run['values']:,} values): {held}; load average after: "
              f"{', '.join(f'{x:.1f}' for x in run['loadavg'])}")


def strip(runs):
    """The runs without the answers' bytes, for the JSON file."""
    out = json.loads(json.dumps(runs, default=lambda b: None))
    for run in out:
        for side in run["queries"].values():
            for q in side.values():
                for a in q["answers"]:
                    a.pop("body", None)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", default="10000,100000",
                   help="comma-separated series counts (peers series; timers come on top)")
    p.add_argument("--points", type=int, default=180, help="one-minute points per series")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=10_000, help="datapoints per body")
    p.add_argument("--connections", type=int, default=1,
                   help="concurrent senders; with more, a body of counters that falls more "
                   "than 4 steps behind on a busy machine is refused as out of order")
    p.add_argument("--reps", type=int, default=40, help="timed asks of each query, each side")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured asks per node first")
    p.add_argument("--partitions", type=int, default=64)
    p.add_argument("--sweep", default="16,64,256",
                   help="partition counts to run at the smallest series count")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--owners", type=int, default=2)
    p.add_argument("--max-age-h", type=float, default=5.0,
                   help="--max-age of every node, hours (the backfill must be younger)")
    p.add_argument("--compare", action="append", default=[], metavar="NAME=BINARY",
                   help="also a cluster (P=--partitions) of these nodes' binary, e.g. an "
                   "older build; may be repeated")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    series = [int(s) for s in args.series.split(",") if s]
    try:
        args.compare = dict(c.split("=", 1) for c in args.compare)
    except ValueError:
        p.error("--compare takes NAME=BINARY")
    sweep = [int(s) for s in args.sweep.split(",") if s]
    if args.points * STEP_MS / 3.6e6 > args.max_age_h - 0.5:
        p.error("--points must leave half an hour under --max-age-h")
    args.target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    args.bin = os.path.join(args.target, "release", "sextant")
    args.flags = ["--max-age", f"{int(args.max_age_h * 60)}m", "--retention", "12h",
                  "--no-persist"]
    if not shutil.which("nats-server"):
        sys.exit("nats-server is missing (scripts/setup-test-deps.sh installs it)")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "sextant-server",
                        "--bin", "sextant", "-p", "sextant-benches", "--bin", "peers"],
                       check=True, cwd=REPO)
    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(1)))
    args.work = tempfile.mkdtemp(prefix="sextant-query-bench-")
    runs, problems = [], []
    log(f"load average at start: {os.getloadavg()}")
    try:
        for n in series:
            run = run_series(args, n, sweep if n == min(series) else [args.partitions])
            run["same"], found = check(run)
            problems += found
            runs.append(run)
    finally:
        stop_all()
        shutil.rmtree(args.work, ignore_errors=True)
    report(args, runs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": strip(runs), "problems": problems}, f,
                      indent=1)
    if problems:
        print("\nPROBLEMS:\n" + "\n".join(f"- {x}" for x in problems))
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop_all()
