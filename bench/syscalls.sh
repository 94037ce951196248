#!/usr/bin/env bash
# System calls per request, Lucair (as bench/lib.sh starts it: a tenant key, limits, `auto`, metered
# to the ledger) beside `lucair-floor` (the same building blocks doing none of Lucair's work), at the
# same paced load: `strace -c -f` on each process while `lucair-loadgen` sends RATE requests/s from
# 16 workers for SECONDS. strace slows the traced process down: read the counts, not the times.
# Needs Debian's strace.
#
# Usage: [RATE=1000] [BENCH_BIN=DIR] bench/syscalls.sh [SECONDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
command -v strace >/dev/null || { echo "strace is missing: apt-get install -y strace" >&2; exit 1; }
. bench/lib.sh
bench_setup
beside_floor
for g in lucair floor; do
  paced "$g" 2 > /dev/null  # warm: connections open, caches filled
  strace -c -f -p "${pid[$g]}" -o "$work/strace.$g" 2> /dev/null &
  tracer=$!
  sleep 0.5
  ok=$(paced "$g" "$secs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
  sleep 0.2
  kill -INT "$tracer"; wait "$tracer" || true
  echo "## $g: $ok requests"
  echo "| syscall | calls | per request |"
  echo "|---|---|---|"
  awk -v n="$ok" '$1 ~ /^[0-9.]+$/ && NF >= 5 { c = $4; s = $NF; if (s != "total" && c / n >= 0.01) printf "| %s | %d | %.2f |\n", s, c, c / n }' "$work/strace.$g"
done
