#!/usr/bin/env bash
# Is a soak's RSS slope live memory or the allocator's? Paced load as bench/soak.sh runs it
# (1,000 non-streaming requests/s, 16 workers, a tenant key, model auto, metered), and every minute
# glibc's own count: `malloc_stats()` called in Lucair through gdb (Debian's `gdb`), which prints
# the bytes its arenas hold from the system and the bytes in use. In-use flat while system bytes
# grow means freed memory the allocator keeps, not a leak.
#
# Usage: [BENCH_BIN=DIR] bench/heap_soak.sh [MINUTES]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
command -v gdb >/dev/null || { echo "gdb is missing: apt-get install -y gdb" >&2; exit 1; }
. bench/lib.sh
bench_setup
start_fake --chunks 16
start_lucair_as_tenant
start_paced_load $((minutes * 60)) heap
echo "| minute | RSS (MB) | malloc system (MB) | malloc in use (MB) |"
echo "|---|---|---|---|"
for i in $(seq "$minutes"); do
  sleep 60
  gdb -p "$lpid" -batch -ex 'call (void)malloc_stats()' > /dev/null 2>&1 || true
  sleep 1
  rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$lpid/status")
  # malloc_stats writes to Lucair's stderr; its last "Total" block is this sample.
  mb=$(grep -A2 '^Total' "$work/lucair.err" | tail -2 | awk '{printf "%s%.2f", (NR > 1 ? " | " : ""), $NF / 1048576}')
  echo "| $i | $rss | $mb |"
done
wait "$plain" || true
