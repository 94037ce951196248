# Shared by the bench scripts (source it): a release build, a scratch folder removed on exit, the fake
# upstream and Lucair on loopback ports.

bench_setup() {
  swift build -c release >/dev/null
  bin="$(swift build -c release --show-bin-path)"
  work="$(mktemp -d)"
  trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
}

# start_fake [FLAGS…]: sets fport.
start_fake() {
  "$bin/lucair-fake-upstream" --port 0 "$@" > "$work/fake.out" 2>&1 &
  for _ in $(seq 50); do grep -q 'fake upstream listening' "$work/fake.out" && break; sleep 0.1; done
  fport=$(grep 'fake upstream listening' "$work/fake.out" | grep -o '[0-9]*$')
}

# start_lucair: serves $work/lucair.toml; sets lport and lpid, returns once /health answers.
start_lucair() {
  lport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin/lucair" serve --config "$work/lucair.toml" --listen "127.0.0.1:$lport" > "$work/lucair.out" 2> "$work/lucair.err" &
  lpid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$lport/health" >/dev/null && break; sleep 0.1; done
}
