#!/usr/bin/env python3
"""Lists import cycles between the files of each crate: a file that names another file's
module (`use crate::a::b`, `crate::a::b::f(...)`, `super::x`) depends on it. Test modules
(`tests.rs`, `#[cfg(test)] mod tests` blocks) are left out: they may use anything.

    scripts/check-cycles.py           # every crate; exit 1 when a cycle exists
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CRATES = ["codec", "query", "store", "server", "client", "ui", "meters", "protocols"]


def module_files(src):
    """Maps a module path (tuple) to its file."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            if parts and parts[-1] == "tests":
                continue
            if f == "main.rs":
                continue
            out[tuple(parts)] = os.path.join(dirpath, f)
    return out


def strip_tests(text):
    """Drops `#[cfg(test)] mod x { ... }` blocks (brace-matched)."""
    out = []
    i = 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i:m.start()])
        depth = 1
        j = m.end()
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        i = j
    return "".join(out)


def resolve(path, mods):
    """The longest module prefix of `path` that is a file."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return None


def deps(me, text, mods):
    found = set()
    # Comments (doc links included) name modules without depending on them.
    text = re.sub(r"//[^\n]*", "", strip_tests(text))
    # `use crate::{a::b, c}` groups: take the first segment after each `crate::` or `{`/`,`.
    for m in re.finditer(r"\bcrate((?:::\w+)+)", text):
        path = m.group(1).split("::")[1:]
        r = resolve(path, mods)
        if r is not None:
            found.add(r)
    for m in re.finditer(r"use crate::\{([^;]*)\};", text, re.S):
        for item in re.split(r"[,\s]+", m.group(1)):
            head = item.split("::")[0].strip("{} ")
            if head and (head,) in mods:
                found.add((head,))
    for m in re.finditer(r"\bsuper((?:::\w+)*)", text):
        base = list(me[:-1])
        rest = m.group(1).split("::")[1:]
        while rest and rest[0] == "super":
            base = base[:-1]
            rest = rest[1:]
        r = resolve(base + rest, mods)
        if r is not None:
            found.add(r)
    found.discard(me)
    return found


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    bad = 0
    for crate in CRATES:
        src = os.path.join(ROOT, crate, "src")
        if not os.path.isdir(src):
            continue
        mods = module_files(src)
        graph = {}
        for m, f in mods.items():
            with open(f, encoding="utf-8") as fh:
                graph[m] = deps(m, fh.read(), mods)
        for comp in cycles(graph):
            bad += 1
            names = sorted(os.path.relpath(mods[m], ROOT) for m in comp)
            print(f"cycle in {crate}: " + " <-> ".join(names))
    if bad:
        sys.exit(1)
    print("no import cycles between files")


if __name__ == "__main__":
    main()
