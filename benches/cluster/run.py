#!/usr/bin/env python3
"""Cluster ingest against a single node, in one run (issue 14, docs/cluster.md).

Starts one Sextant node alone (its own write-ahead log, the default), loads it with the
HTTP load generator (benches/src/bin/load.rs) and stops it; then starts 3 nats-servers as
a JetStream cluster and 3 Sextant nodes joined to it, loads them through all three nodes
with the same generator and settings, waits until every owner has applied everything, and
stops them. For each side it reads utime+stime of every server process from
/proc/<pid>/stat before and after (the load generator is counted apart), and reports:

- datapoints acknowledged, dp per CPU-second across all server processes;
- the cluster's CPU per datapoint over the single node's, and the JetStream hop's cost
  per datapoint (the cluster's CPU per datapoint minus F times the single node's: what
  the cluster spends beyond storing each point on F nodes);
- bytes per datapoint in the stream (stats.cluster.published.bytesAcked /
  datapointsAcked), NATS messages per second, and RSS and series of every process.

    benches/cluster/run.py                         # builds release binaries first
    benches/cluster/run.py --seconds 20 --rate 200000 --series 100000

Everything it starts is stopped on any exit path, by PID; files go to a temp directory
that is removed at the end. Prints a Markdown table (stdout) and JSON (--json FILE).
"""

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from processes import cpu_seconds, free_port, start, stop, stop_all  # noqa: E402

# nodes.py sits next to this script, so it is on the path.
from nodes import get_json, listening, settled, start_nats, start_nodes, wait_for  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print(f"[cluster-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def run_load(args, urls):
    """Runs the load generator; returns (datapoints it got 200 for, its CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [args.load, "--url", ",".join(urls), "--series", str(args.series), "--rate",
         str(args.rate), "--seconds", str(args.seconds), "--batch", str(args.batch),
         "--connections", str(args.connections)],
        check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = [l for l in out.stdout.splitlines() if l.startswith("sent ")][-1]
    log(line)
    sent = int(line.split()[1])
    failed = int(line.rsplit("(", 1)[1].split()[0])
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return sent, failed, cpu


def measure(procs, args, urls, settle):
    """CPU of `procs` over a load through `urls`, until `settle()` says all is applied."""
    cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    t0 = time.monotonic()
    sent, failed, load_cpu = run_load(args, urls)
    settle()
    elapsed = time.monotonic() - t0
    cpu1 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    cpu = {name: cpu1[name] - cpu0[name] for name in procs}
    rss = {name: rss_bytes(p.pid) for name, p in procs.items()}
    return {"sent": sent, "failed": failed, "loadCpu": load_cpu, "elapsed": elapsed,
            "cpu": cpu, "rss": rss}


def single(args, tmp):
    port = free_port()
    logfile = os.path.join(tmp, "single.log")
    proc = start([args.bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                  os.path.join(tmp, "single"), "--step", args.step], logfile)
    url = listening(logfile, proc)
    log(f"single node at {url}")
    m = measure({"sextant": proc}, args, [url], lambda: None)
    stats = get_json(f"{url}/api/v1/stats")
    m["stored"] = stats["ingest"]["datapointsAccepted"]
    m["series"] = {"sextant": stats["series"]}
    stop(proc)
    return m


def cluster(args, tmp):
    procs, nats = start_nats(tmp)
    nodes, urls = start_nodes(
        args.bin, tmp, nats, 3,
        ["--step", args.step, "--cluster-partitions", str(args.partitions),
         "--cluster-replicas", str(args.replicas), "--cluster-owners", str(args.owners)])
    procs.update(nodes)
    log(f"cluster nodes at {', '.join(urls)}")

    def all_applied():
        return settled(urls, args.partitions, args.owners)

    wait_for("the cluster to settle", all_applied)
    m = measure(procs, args, urls,
                lambda: wait_for("every owner to apply everything", all_applied))
    stats = [get_json(f"{u}/api/v1/stats") for u in urls]
    published = [s["cluster"]["published"] for s in stats]
    m["stored"] = sum(p["datapointsAcked"] for p in published)
    m["messages"] = sum(p["messagesAcked"] for p in published)
    m["bytes"] = sum(p["bytesAcked"] for p in published)
    m["applied"] = sum(s["ingest"]["stored"] for s in stats)
    m["series"] = {f"node{i}": s["series"] for i, s in enumerate(stats)}
    for name in list(procs):
        stop(procs[name])
    return m


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--series", type=int, default=100_000)
    p.add_argument("--rate", type=int, default=200_000, help="offered dp/s (both sides)")
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--connections", type=int, default=3)
    p.add_argument("--step", default="60s")
    p.add_argument("--partitions", type=int, default=64)
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--owners", type=int, default=2)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    args.bin = os.path.join(target, "release", "sextant")
    args.load = os.path.join(target, "release", "load")
    if not shutil.which("nats-server"):
        sys.exit("nats-server is missing (scripts/setup-test-deps.sh installs it)")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "sextant-server",
                        "--bin", "sextant", "-p", "sextant-benches", "--bin", "load"],
                       check=True, cwd=REPO)
    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(1)))
    tmp = tempfile.mkdtemp(prefix="sextant-cluster-bench-")
    try:
        log("single node")
        s = single(args, tmp)
        log("cluster: 3 nats-servers, 3 nodes")
        c = cluster(args, tmp)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, s, c)


def report(args, s, c):
    s_cpu = sum(s["cpu"].values())
    c_cpu = sum(c["cpu"].values())
    nats_cpu = sum(v for k, v in c["cpu"].items() if k.startswith("nats"))
    node_cpu = c_cpu - nats_cpu
    s_per = s_cpu / s["stored"] * 1e6
    c_per = c_cpu / c["stored"] * 1e6
    out = {
        "args": {k: v for k, v in vars(args).items() if k not in ("bin", "load")},
        "single": s, "cluster": c,
        "singleDpPerCpuSecond": s["stored"] / s_cpu,
        "clusterDpPerCpuSecond": c["stored"] / c_cpu,
        "singleCpuUsPerDp": s_per,
        "clusterCpuUsPerDp": c_per,
        "clusterOverSingle": c_per / s_per,
        "hopCpuUsPerDp": c_per - args.owners * s_per,
        "natsCpuUsPerDp": nats_cpu / c["stored"] * 1e6,
        "nodesCpuUsPerDp": node_cpu / c["stored"] * 1e6,
        "bytesPerDp": c["bytes"] / c["stored"],
        "dpPerMessage": c["stored"] / c["messages"],
        "messagesPerSecond": c["messages"] / args.seconds,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    mib = 1 << 20
    print(f"| | single node | cluster (3 nodes + 3 nats-servers, P={args.partitions}, "
          f"R={args.replicas}, F={args.owners}) |")
    print("|---|---:|---:|")
    print(f"| datapoints acknowledged (200) | {s['stored']} | {c['stored']} |")
    print(f"| failed | {s['failed']} | {c['failed']} |")
    print(f"| acknowledged dp/s over {args.seconds} s | {s['stored'] / args.seconds:,.0f} | "
          f"{c['stored'] / args.seconds:,.0f} |")
    print(f"| server CPU-seconds (all processes) | {s_cpu:.1f} | {c_cpu:.1f} "
          f"(nats {nats_cpu:.1f}, nodes {node_cpu:.1f}) |")
    print(f"| **dp per CPU-second** | **{out['singleDpPerCpuSecond']:,.0f}** | "
          f"**{out['clusterDpPerCpuSecond']:,.0f}** |")
    print(f"| CPU µs per dp | {s_per:.2f} | {c_per:.2f} (nats {out['natsCpuUsPerDp']:.2f}, "
          f"nodes {out['nodesCpuUsPerDp']:.2f}) |")
    print(f"| cluster / single CPU per dp | | **{out['clusterOverSingle']:.2f}x** |")
    print(f"| JetStream hop, CPU µs per dp (cluster − F × single) | | "
          f"{out['hopCpuUsPerDp']:.2f} |")
    print(f"| stream bytes per dp | | {out['bytesPerDp']:.1f} |")
    print(f"| NATS messages/s (dp per message) | | {out['messagesPerSecond']:,.0f} "
          f"({out['dpPerMessage']:.0f}) |")
    print(f"| load generator CPU-seconds | {s['loadCpu']:.1f} | {c['loadCpu']:.1f} |")
    rss = ", ".join(f"{k} {v / mib:.0f}" for k, v in sorted(c["rss"].items()))
    print(f"| RSS at end, MiB | {s['rss']['sextant'] / mib:.0f} | {rss} |")
    series = ", ".join(f"{k} {v}" for k, v in sorted(c["series"].items()))
    print(f"| series held | {s['series']['sextant']} | {series} |")


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
