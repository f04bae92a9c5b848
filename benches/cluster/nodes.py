"""Processes of the cluster benchmarks (run.py: ingest, query.py: queries): nats-servers as
one JetStream cluster, Sextant nodes joined to it, and waiting until they are ready. Every
process is started through processes.start, so processes.stop_all stops it on any exit."""

import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from processes import free_port, start  # noqa: E402


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def wait_for(what, check, timeout=120):
    """Calls check() until it returns a true value; an OSError counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def listening(logfile, proc, timeout=120):
    """The URL a Sextant node prints once it listens; fails at once if it exited."""
    def check():
        if proc.poll() is not None:
            raise RuntimeError(f"{logfile} exited: {open(logfile).read()[:3000]}")
        with open(logfile) as f:
            for line in f:
                if line.startswith("sextant listening on "):
                    return line.split()[-1].strip()
        return None

    return wait_for(f"{logfile} to listen", check, timeout)


def start_nats(tmp, count=3):
    """`count` nats-servers routed into one JetStream cluster; ({name: proc}, client URLs)."""
    ports = [(free_port(), free_port()) for _ in range(count)]
    routes = ",".join(f"nats://127.0.0.1:{r}" for _, r in ports)
    procs = {}
    for i, (port, route) in enumerate(ports):
        procs[f"nats{i}"] = start(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-n", f"nats{i}",
             "-sd", os.path.join(tmp, f"nats{i}"), "--cluster_name", "sextant-bench",
             "--cluster", f"nats://127.0.0.1:{route}", "--routes", routes],
            os.path.join(tmp, f"nats{i}.log"))
    return procs, ",".join(f"nats://127.0.0.1:{p}" for p, _ in ports)


def start_nodes(binary, tmp, nats, count, flags):
    """`count` Sextant nodes node0.. joined to `nats`, each with `flags` too; ({name: proc},
    [url of node0, ...]) once every one listens."""
    procs = {}
    for i in range(count):
        procs[f"node{i}"] = start(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir",
             os.path.join(tmp, f"node{i}"), "--cluster", nats, "--node-id", f"node{i}"]
            + flags,
            os.path.join(tmp, f"node{i}.log"))
    urls = [listening(os.path.join(tmp, f"node{i}.log"), procs[f"node{i}"])
            for i in range(count)]
    return procs, urls


def settled(urls, partitions, owners):
    """True when every node sees every member, none is catching up or lagging, and every
    partition has its `owners` owners."""
    owned = 0
    for u in urls:
        c = get_json(f"{u}/api/v1/stats")["cluster"]
        if len(c["members"]) != len(urls) or c["catchingUp"] != 0 or c["lag"] != 0:
            return False
        owned += c["owned"]
    return owned == partitions * owners
