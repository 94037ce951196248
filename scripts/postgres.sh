#!/usr/bin/env bash
# Starts the machine's PostgreSQL cluster if it is down and makes the test role and database.
# Prints the URL to use as LUCAIR_TEST_POSTGRES_URL, and nothing else on stdout: whatever the
# cluster tools say (e.g. "Removed stale pid file.") goes to stderr.
set -euo pipefail
exec 3>&1 1>&2
cluster=$(pg_lsclusters -h | head -1)
ver=$(echo "$cluster" | awk '{print $1}'); name=$(echo "$cluster" | awk '{print $2}'); port=$(echo "$cluster" | awk '{print $3}')
# The server outlives this script: it must hold none of our descriptors (our stdout, or a pipe a CI
# runner waits on to see the job end), so it starts with every descriptor above stderr closed.
start_closed() { python3 -c 'import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], stdin=subprocess.DEVNULL, close_fds=True))' "$@"; }
if ! pg_isready -q -p "$port"; then start_closed pg_ctlcluster "$ver" "$name" start; fi
for _ in $(seq 1 50); do pg_isready -q -p "$port" && break; sleep 0.2; done
psql_su() { su postgres -c "psql -p $port -qtA -c \"$1\""; }
[ "$(psql_su "SELECT 1 FROM pg_roles WHERE rolname='lucair'")" = "1" ] || psql_su "CREATE ROLE lucair LOGIN PASSWORD 'lucair' CREATEDB" >/dev/null
# A fresh database every run: tests assert the exact migrations applied, and nothing carries over.
psql_su "DROP DATABASE IF EXISTS lucair_test WITH (FORCE)" >/dev/null
psql_su "CREATE DATABASE lucair_test OWNER lucair" >/dev/null
echo "postgres://lucair:lucair@127.0.0.1:$port/lucair_test" >&3
