#!/usr/bin/env bash
# The whole test suite: Swift tests (against SQLite and a real PostgreSQL) and the end-to-end tests
# with the official openai Python client against the fake upstreams and a real llama.cpp server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export LUCAIR_TEST_POSTGRES_URL="${LUCAIR_TEST_POSTGRES_URL:-$(scripts/postgres.sh)}"
# A thousand concurrent connections (both ends in one test process) need more than 1024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
swift build --build-tests
# Bounded: a hung test fails the run with its name on the log rather than stall CI.
timeout -k 30 1200 swift test
LUCAIR_BIN_DIR="$(swift build --show-bin-path)" timeout -k 30 1200 python3 -m pytest tests/e2e -q -p no:cacheprovider --timeout 300
