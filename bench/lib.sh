# Shared by the bench scripts (source it): a release build, a scratch folder removed on exit, the fake
# upstream and Lucair on loopback ports.

# bench/peers.sh installs the peers, and matplotlib for the charts, into this virtualenv.
peers_venv="${PEERS_VENV:-$HOME/.cache/lucair-bench-peers}"
# A Python with matplotlib when the peers' virtualenv exists; else python3 (figures, no charts).
chart_python() { if [ -x "$peers_venv/bin/python" ]; then echo "$peers_venv/bin/python"; else echo python3; fi; }

# What each started process answers at, for wrk_at and paced: its pid (for CPU and RSS), chat URL,
# API key and model name. The start_* functions below register themselves: direct (the fake),
# lucair, tensorzero, nginx, floor and the floor's raw variants (raw, rawtask, rawclient).
declare -A pid=() url=() key=() model=()
target() { pid[$1]=$2; url[$1]=$3; key[$1]=${4:-}; model[$1]=${5:-ministral-8b}; }

# wrk_at NAME CONC DURATION: wrk, one thread, CONC connections, non-streaming chat requests to target
# NAME for DURATION (wrk's syntax: 5s); prints bench/peers/wrk-json.lua's JSON line.
wrk_at() {
  local body='{"model":"'"${model[$1]}"'","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
  BODY=$body KEY=${key[$1]} LABEL=$1 CONC=$2 wrk -t1 -c"$2" -d"$3" --timeout 30s -s bench/peers/wrk-json.lua "${url[$1]}" | tail -1
}

bench_setup() {
  if [ -n "${BENCH_BIN:-}" ]; then bin=$BENCH_BIN  # prebuilt binaries (a long soak while the tree is rebuilt)
  else
    swift build -c release >/dev/null
    bin="$(swift build -c release --show-bin-path)"
  fi
  work="$(mktemp -d)"
  trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
}

# start_fake [FLAGS…]: sets fport and fpid.
start_fake() {
  "$bin/lucair-fake-upstream" --port 0 "$@" > "$work/fake.out" 2>&1 &
  fpid=$!
  for _ in $(seq 50); do grep -q 'fake upstream listening' "$work/fake.out" && break; sleep 0.1; done
  fport=$(grep 'fake upstream listening' "$work/fake.out" | grep -o '[0-9]*$')
  target direct "$fpid" "http://127.0.0.1:$fport/v1/chat/completions"
}

# start_lucair: serves $work/lucair.toml; sets lport and lpid, returns once /health answers.
start_lucair() {
  lport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin/lucair" serve --config "$work/lucair.toml" --listen "127.0.0.1:$lport" > "$work/lucair.out" 2> "$work/lucair.err" &
  lpid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$lport/health" >/dev/null && break; sleep 0.1; done
}

# start_lucair_as_tenant: Lucair with four tiers on the fake (start_fake first), a "bench" plan with
# RPM, TPM and concurrency limits all on, and an internal tenant on it whose key ($tenant_key) is
# metered to the hash-chained ledger on SQLite. Sets lport, lpid, admin, tenant_key.
start_lucair_as_tenant() {
  admin="sk-luc-benchbenchbenchbenchbenchbenchbench"
  {
    printf '[server]\nlisten = "127.0.0.1:0"\nlog_level = "warning"\n[storage]\nurl = "sqlite://%s/lucair.sqlite"\n[auth]\nadmin_key = "%s"\n' "$work" "$admin"
    printf '[plans.bench]\nceiling = "frontier"\nrpm = 100000000\ntpm = 100000000000\nmax_concurrent = 4096\n'
    for t in baseline:ministral-8b fast:fast-model balanced:balanced-model frontier:frontier-model; do
      printf '[[tiers.%s.deployments]]\nname = "fake-%s"\nkind = "openai_compatible"\nurl = "http://127.0.0.1:%s/v1"\nmodel = "%s"\n' "${t%%:*}" "${t%%:*}" "$fport" "${t#*:}"
    done
    printf '[[prices]]\neffective = "2026-01-01"\n'
    for m in ministral-8b:200:1000 fast-model:1000:5000 balanced-model:3000:15000 frontier-model:15000:75000; do
      IFS=: read -r name input output <<< "$m"
      printf '[prices.models."%s"]\ninput = %s\noutput = %s\n' "$name" "$input" "$output"
    done
  } > "$work/lucair.toml"
  start_lucair
  local tid
  tid=$(curl -sf -H "authorization: Bearer $admin" -H 'content-type: application/json' "http://127.0.0.1:$lport/admin/v1/tenants" \
    -d '{"name":"bench","kind":"internal","plan":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  tenant_key=$(curl -sf -H "authorization: Bearer $admin" -H 'content-type: application/json' "http://127.0.0.1:$lport/admin/v1/tenants/$tid/keys" \
    -d '{"name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  sleep 1.5  # the key refresher picks the new key up
  target lucair "$lpid" "http://127.0.0.1:$lport/v1/chat/completions" "$tenant_key" auto
}

# beside_tensorzero: the fake, Lucair as a tenant and TensorZero's gateway, after checking that the
# peers' virtualenv exists (bench/peers.sh makes it). Sets what start_fake, start_lucair_as_tenant
# and start_tensorzero set.
beside_tensorzero() {
  [ -x "$peers_venv/bin/python" ] || { echo "no peers virtualenv: run bench/peers.sh once" >&2; exit 1; }
  bench_setup
  start_fake --chunks 16
  start_lucair_as_tenant
  start_tensorzero
}

# start_floor [--raw]: lucair-floor (Lucair's building blocks doing none of its work; with --raw, bytes
# forwarded by hand without NIOHTTP1 or a task) on the fake (start_fake first); sets floorport and
# floorpid, returns once it listens.
start_floor() {
  floorport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin/lucair-floor" "$@" "$floorport" "http://127.0.0.1:$fport/v1/chat/completions" > "$work/floor${1:-}.out" 2>&1 &
  floorpid=$!
  for _ in $(seq 50); do grep -q listening "$work/floor${1:-}.out" && break; sleep 0.1; done
  local name=${1:-floor}
  target "${name//-/}" "$floorpid" "http://127.0.0.1:$floorport/v1/chat/completions"
}

# beside_floor: the fake, Lucair as a tenant and lucair-floor, to compare the two at one paced load;
# registers them as targets lucair and floor. Then `paced lucair|floor SECONDS` sends $RATE requests/s
# (default 1,000) from 16 workers to one of them and prints lucair-loadgen's JSON line.
beside_floor() {
  start_fake --chunks 16
  start_lucair_as_tenant
  start_floor
}
paced() {
  "$bin/lucair-loadgen" --url "${url[$1]}" --key "$tenant_key" --concurrency 16 --rate "${RATE:-1000}" --seconds "$2" --warmup 0 --label "$1" \
    --body '{"model":"auto","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
}

# CPU time (clock ticks, user + system) of a process and its children, threads included.
tree_ticks() { local t=0 p; for p in $1 $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }

# start_paced_load SECONDS LABEL: the soaks' steady load in the background (1,000 non-streaming
# requests/s from 16 workers, model auto, through $tenant_key); its JSON line goes to
# $work/plain.json. Sets plain (its pid).
start_paced_load() {
  "$bin/lucair-loadgen" --url "http://127.0.0.1:$lport/v1/chat/completions" --key "$tenant_key" --concurrency 16 --rate 1000 \
    --seconds "$1" --warmup 0 --label "$2" \
    --body '{"model":"auto","messages":[{"role":"user","content":"Hello there, how are you today?"}]}' > "$work/plain.json" &
  plain=$!
}

# start_tensorzero: TensorZero's gateway (the Rust gateway embedded in its PyPI wheel, installed by
# bench/peers.sh into $peers_venv), observability off, one model on the fake (start_fake first).
# Sets tzpid and tzurl (its OpenAI chat completions URL); its model is tensorzero::model_name::fake.
start_tensorzero() {
  cat > "$work/tensorzero.toml" <<TOML
[gateway]
observability.enabled = false
[models.fake]
routing = ["fake"]
[models.fake.providers.fake]
type = "openai"
api_base = "http://127.0.0.1:$fport/v1/"
model_name = "ministral-8b"
api_key_location = "none"
TOML
  RUST_LOG=warn "$peers_venv/bin/python" bench/peers/tensorzero_gateway.py "$work/tensorzero.toml" > "$work/tz.out" 2>&1 &
  tzpid=$!
  for _ in $(seq 100); do grep -q 'tensorzero base_url' "$work/tz.out" && break; sleep 0.2; done
  tzurl="$(awk '/tensorzero base_url/ {print $3}' "$work/tz.out")chat/completions"
  target tensorzero "$tzpid" "$tzurl" "" tensorzero::model_name::fake
}

# start_nginx: Debian's nginx as a bare keep-alive reverse proxy to the fake (start_fake first), as
# nginx is tuned for proxying: the reference for what forwarding alone costs. Sets ngport and ngpid.
start_nginx() {
  ngport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/nginx"
  cat > "$work/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  upstream fake { server 127.0.0.1:$fport; keepalive 128; }
  server {
    listen 127.0.0.1:$ngport;
    location / { proxy_pass http://fake; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX
  nginx -c "$work/nginx.conf" -p "$work/nginx" &
  ngpid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$ngport/health" && break; sleep 0.1; done
  curl -s -o /dev/null "http://127.0.0.1:$ngport/health" || { echo "nginx did not start, left out: $(cat "$work/nginx/error.log")" >&2; return 1; }
  target nginx "$ngpid" "http://127.0.0.1:$ngport/v1/chat/completions"
}
