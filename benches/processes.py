"""Processes the benchmark scripts (benches/peers/run.py, benches/cluster/run.py) start:
each is remembered so that every exit path stops it, and nothing else is ever killed."""

import os
import shutil
import socket
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Children started through start(), so stop_all() stops them on any exit path.
CHILDREN = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, logfile, cpu=None):
    """Starts cmd with stdout and stderr into logfile, pinned to CPU cpu when given."""
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu)] + cmd
    out = open(logfile, "wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()
    CHILDREN.append(proc)
    return proc


def stop(proc, timeout=30):
    """SIGTERM, then SIGKILL after timeout seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in CHILDREN:
        CHILDREN.remove(proc)


def stop_all(*_):
    for proc in list(CHILDREN):
        stop(proc)


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command: state is field 3; utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
