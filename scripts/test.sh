#!/usr/bin/env bash
# The whole test suite: Swift tests (against SQLite and a real PostgreSQL) and the end-to-end tests
# with the official openai Python client against the fake upstreams and a real llama.cpp server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export LUCAIR_TEST_POSTGRES_URL="${LUCAIR_TEST_POSTGRES_URL:-$(scripts/postgres.sh)}"
swift build --build-tests
swift test
LUCAIR_BIN_DIR="$(swift build --show-bin-path)" python3 -m pytest tests/e2e -q -p no:cacheprovider
