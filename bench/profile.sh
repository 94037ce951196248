#!/usr/bin/env bash
# Where Lucair's CPU goes: perf on `lucair serve` (a tenant key, limits, `auto`, ledger metering on,
# as bench/lib.sh starts it) while `wrk -t1 -cN` (N = CONC, default 16) drives non-streaming requests for 6 s.
# Writes OUT.data; read it with `perf report -i OUT.data --children --sort symbol` (or
# `--no-children --sort dso` for the split by library). perf slows Lucair down: its figures are
# shares of Lucair's CPU, not throughput.
#
# Usage: bench/profile.sh OUT [perf record flags, default: -F 2000 --call-graph=dwarf,16384]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
shift
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(-F 2000 --call-graph=dwarf,16384)
. bench/lib.sh
bench_setup
start_fake --chunks 16
start_lucair_as_tenant
body='{"model":"auto","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
url="http://127.0.0.1:$lport/v1/chat/completions"
BODY=$body KEY=$tenant_key LABEL=warm CONC=${CONC:-16} wrk -t1 -c${CONC:-16} -d2s -s bench/peers/wrk-json.lua "$url" > /dev/null
perf record "${flags[@]}" -o "$out.data" -p "$lpid" -- sleep 6 > /dev/null 2>&1 &
perfpid=$!
BODY=$body KEY=$tenant_key LABEL=lucair CONC=${CONC:-16} wrk -t1 -c${CONC:-16} -d6s -s bench/peers/wrk-json.lua "$url" | tail -1
wait "$perfpid" || true
