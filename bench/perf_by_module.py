#!/usr/bin/env python3
"""Where Lucair's CPU goes, by Swift module: each sample of `perf script -F comm,ip,sym,dso` (a
call-graph profile, e.g. bench/profile.sh's) is charged to the innermost frame whose mangled name
names a module (`$s<len><Module>…`), so the runtime, libc and kernel time a module's code causes is
counted with it (async functions' resume partials included, which inclusive `perf report` splits).

    perf script -i OUT.data -F comm,ip,sym,dso | bench/perf_by_module.py [MODULE]

Prints the share per thread name and per module, then the heaviest functions of Lucair's modules;
with MODULE, that module's own heaviest frames and the leaves under them instead.
"""
import collections
import re
import sys

MANGLED = re.compile(r"\$s(\d+)([A-Za-z_][A-Za-z_0-9]*)")


def module(sym):
    m = MANGLED.search(sym)
    if m:
        return m.group(2)[: int(m.group(1))]
    if sym.startswith("c_nio_llhttp"):
        return "NIOHTTP1"
    if sym.startswith("sqlite3"):
        return "sqlite"
    if "CCryptoBoringSSL" in sym:
        return "Crypto"
    return None


def samples(lines):
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if frames:
                yield comm, frames
            comm, frames = None, []
        elif not line.startswith((" ", "\t")):
            comm = line.split()[0]
        else:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                m = re.match(r"(.*) \((.*)\)$", parts[1])
                sym, dso = (m.group(1), m.group(2)) if m else (parts[1], "")
                frames.append((re.sub(r"\+0x[0-9a-f]+$", "", sym), dso))
    if frames:
        yield comm, frames


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else None
    total = 0
    by_comm, by_module, by_function, leaves = (collections.Counter() for _ in range(4))
    for comm, frames in samples(sys.stdin):
        total += 1
        by_comm[comm] += 1
        for sym, dso in frames:
            m = module(sym)
            if not m or m == "_NIODataStructures":
                continue
            by_module[m] += 1
            if only and m == only:
                by_function[sym[:110]] += 1
                leaves[frames[0][0][:70]] += 1
            elif not only and m.startswith("Lucair"):
                f = re.search(r"\$s\d+" + m + r"((?:\d+[A-Za-z_]+){1,2})", sym)
                by_function[(m, f.group(1) if f else sym[:60])] += 1
            break
        else:
            kind = "kernel" if frames[0][1].endswith("kallsyms]") else "other"
            by_module[f"(no module: {kind})"] += 1
    pct = lambda n: f"{100 * n / max(1, total):6.2f}%"
    print(f"{total} samples")
    if only:
        for k, v in by_function.most_common(25):
            print(pct(v), k)
        print("-- leaves")
        for k, v in leaves.most_common(15):
            print(pct(v), k)
        return
    for k, v in by_comm.most_common(8):
        print(pct(v), "thread", k)
    for k, v in by_module.most_common(30):
        print(pct(v), k)
    print("-- Lucair's heaviest functions")
    for (m, f), v in by_function.most_common(40):
        print(pct(v), m, f)


main()
