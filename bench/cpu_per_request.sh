#!/usr/bin/env bash
# CPU time Lucair spends per non-streaming request (user + system, from /proc/PID/stat), under
# `wrk -t1 -cN` through the tenant key (auth, limits, `auto` routing, ledger metering all on), at
# each concurrency in CONC (default 16), with req/s and latency (wrk's JSON line).
#
#   [CONC="1 16 64"] [ROUNDS=3] [RATE=3000] [STREAM=1] bench/cpu_per_request.sh [SECS] [BIN_DIR …]
#
# With RATE set (requests/s), each point is paced instead (`lucair-loadgen --rate`, 16 workers):
# every build does the same work at the same rate, which spreads less than a closed loop where the
# faster build also serves more requests.
#
# With STREAM=1, streamed requests instead (`lucair-loadgen --stream`, 16 content chunks each, closed
# loop at each CONC or paced at RATE): the figure is CPU per stream.
#
# A BIN_DIR holds a commit's release `lucair`, `lucair-fake-upstream` and `lucair-loadgen`.
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

hz=$(getconf CLK_TCK)
body='{"model":"auto",'"${STREAM:+\"stream\":true,}"'"messages":[{"role":"user","content":"Hello there, how are you today?"}]}'

for round in $(seq "${ROUNDS:-3}"); do
  for d in "${dirs[@]}"; do
    (
      BENCH_BIN=$d
      bench_setup
      start_fake --chunks 16
      start_lucair_as_tenant
      url="http://127.0.0.1:$lport/v1/chat/completions"
      # One point: closed loop at $c connections (wrk), or paced at $RATE (16 workers).
      load() {
        if [ -n "${RATE:-}${STREAM:-}" ]; then
          # Paced: 16 workers; closed-loop streams: $c.
          "$bin/lucair-loadgen" --url "$url" --key "$tenant_key" --concurrency "$([ -n "${RATE:-}" ] && echo 16 || echo "$c")" --rate "${RATE:-0}" --seconds "$1" --warmup 0 \
            --label "$d" --body "$body" ${STREAM:+--stream}
        else
          BODY=$body KEY=$tenant_key LABEL="$d" CONC=$c wrk -t1 -c"$c" -d"$1s" -s bench/peers/wrk-json.lua "$url" | tail -1
        fi
      }
      points=${CONC:-16}
      [ -z "${RATE:-}" ] || points=16
      for c in $points; do
        load 2 > /dev/null
        t0=$(tree_ticks "$lpid")
        line=$(load "$secs")
        t1=$(tree_ticks "$lpid")
        n=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
        echo "round $round  $line  lucair CPU/request $(( (t1 - t0) * 1000000 / hz / n )) µs"
      done
    )
  done
done
