#!/usr/bin/env bash
# Heap allocations per request, Lucair (as bench/lib.sh starts it: a tenant key, limits, `auto`,
# metered to the ledger) beside `lucair-floor` (the same building blocks doing none of Lucair's work),
# at the same paced load: calls to libc's `malloc` (every Swift object, array and string buffer
# comes from it) counted by perf through a uprobe while `lucair-loadgen` sends RATE requests/s from
# 16 workers for SECONDS. With WHERE=1, Lucair's allocations are also recorded with call stacks and
# charged to the innermost frame of a Lucair module (perf drops some events while it unwinds: read
# those shares, not their sum). Needs Debian's linux-perf and a kernel with uprobes.
#
# Usage: [RATE=1000] [WHERE=1] [BENCH_BIN=DIR] bench/allocations.sh [SECONDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
libc=$(ldconfig -p | awk '/libc\.so\.6 .*x86-64/ {print $NF; exit}')
perf probe -q -x "$libc" --add malloc 2> /dev/null || true  # once per boot; already there is fine
case "$(perf list 2> /dev/null)" in *probe_libc:malloc*) ;; *) echo "perf cannot probe $libc's malloc here" >&2; exit 1 ;; esac
. bench/lib.sh
bench_setup
beside_floor
for g in lucair floor; do
  paced "$g" 2 > /dev/null  # warm: connections open, pools filled
  perf stat -e probe_libc:malloc -p "${pid[$g]}" -o "$work/stat.$g" -- sleep "$(python3 -c "print($secs + 0.6)")" &
  counter=$!
  sleep 0.3
  ok=$(paced "$g" "$secs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
  wait "$counter" || true
  n=$(awk '/probe_libc:malloc/ {gsub(",", "", $1); print $1}' "$work/stat.$g")
  echo "$g: $ok requests, $n mallocs, $(python3 -c "print(round($n / $ok, 1))") per request"
done
if [ -n "${WHERE:-}" ]; then
  perf record -q -e probe_libc:malloc --call-graph=dwarf,16384 -p "$lpid" -o "$work/malloc.data" -- sleep 1.2 > /dev/null 2>&1 &
  recorder=$!
  sleep 0.1
  paced lucair 1 > /dev/null
  wait "$recorder" || true
  perf script -i "$work/malloc.data" -F comm,ip,sym 2> /dev/null | python3 -c '
import collections, re, subprocess, sys
mangled = re.compile(r"\$s(\d+)([A-Za-z_][A-Za-z_0-9]*)")
def module(f):
    m = mangled.search(f)
    return m.group(2)[: int(m.group(1))] if m else None
where, stack, total = collections.Counter(), [], 0
def done():
    global total
    if not stack: return
    total += 1
    frame = next((f for f in stack if (module(f) or "").startswith("Lucair")), None)
    where[frame or "(no Lucair frame) " + str(next((module(f) for f in stack if module(f)), None))] += 1
for line in sys.stdin:
    if not line.strip(): done(); stack = []; continue
    if line[0] in " \t":
        parts = line.split(None, 1)
        if len(parts) == 2: stack.append(re.sub(r"\+0x[0-9a-f]+$", "", parts[1].strip()))
done()
top = where.most_common(30)
names = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(k for k, _ in top), capture_output=True, text=True).stdout.split("\n")
print(f"where Lucair allocates ({total} recorded), by innermost Lucair frame:")
for (k, n), d in zip(top, names): print(f"  {100 * n / total:5.1f} %  {d[:150]}")'
fi
