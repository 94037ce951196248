#!/usr/bin/env bash
# CPU time Lucair spends per non-streaming request (user + system, from /proc/PID/stat), under
# `wrk -t1 -c16` through the tenant key (auth, limits, `auto` routing, ledger metering all on).
#
#   bench/cpu_per_request.sh [SECS] [BIN_DIR …]
#
# With several BIN_DIRs (e.g. two `swift build -c release --show-bin-path` folders of two commits),
# they are measured in alternating rounds (ROUNDS, default 3) so the noise of this shared machine
# falls on both alike; compare the figures of one run only. Without, the current tree is built.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; shift || true
. bench/lib.sh
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
  swift build -c release >/dev/null
  dirs=("$(swift build -c release --show-bin-path)")
fi

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)

for round in $(seq "${ROUNDS:-3}"); do
  for d in "${dirs[@]}"; do
    (
      BENCH_BIN=$d
      bench_setup
      start_fake --chunks 16
      start_lucair_as_tenant
      cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"auto","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $tenant_key"
LUA
      url="http://127.0.0.1:$lport/v1/chat/completions"
      wrk -t1 -c16 -d2s -s "$work/post.lua" "$url" > /dev/null  # warm-up
      t0=$(ticks "$lpid")
      wrk -t1 -c16 -d"${secs}s" -s "$work/post.lua" "$url" > "$work/wrk.out"
      t1=$(ticks "$lpid")
      n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
      rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
      echo "round $round  $d  requests $n  req/s $rps  lucair CPU/request $(( (t1 - t0) * 1000000 / hz / n )) µs"
    )
  done
done
