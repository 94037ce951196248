#!/usr/bin/env bash
# A/B of Lucair builds on one machine in one sitting: each DIR holds a release `lucair`,
# `lucair-fake-upstream` and `lucair-loadgen` (copy them out of `.build/release` per commit). For
# each round and each DIR: the fake and Lucair as a tenant uses it (bench/lib.sh), then wrk at
# concurrency 1, 16 and 64, non-streaming, model auto. Prints wrk's JSON line per point plus
# Lucair's CPU per request (from /proc). Alternating the builds keeps the machine's drift out of
# the comparison.
#
# Usage: bench/ab.sh SECONDS ROUNDS DIR...
set -euo pipefail
cd "$(dirname "$0")/.."
secs=$1 rounds=$2
shift 2
body='{"model":"auto","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
for _ in $(seq "$rounds"); do
  for d in "$@"; do
    (
      export BENCH_BIN=$d
      . bench/lib.sh
      bench_setup
      start_fake --chunks 16
      start_lucair_as_tenant
      url="http://127.0.0.1:$lport/v1/chat/completions"
      for c in 1 16 64; do
        BODY=$body KEY=$tenant_key LABEL=warm CONC=$c wrk -t1 -c"$c" -d1s -s bench/peers/wrk-json.lua "$url" >/dev/null
        t0=$(awk '{print $14 + $15}' "/proc/$lpid/stat")
        line=$(BODY=$body KEY=$tenant_key LABEL="$d" CONC=$c wrk -t1 -c"$c" -d"${secs}s" -s bench/peers/wrk-json.lua "$url" | tail -1)
        t1=$(awk '{print $14 + $15}' "/proc/$lpid/stat")
        ok=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
        echo "$line cpu_us_per_request=$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / ok ))"
      done
    )
  done
done
