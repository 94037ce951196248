#!/usr/bin/env python3
"""Burns CPU in bursts beside a benchmark, to see what a background burst (such as a ledger commit)
does to request latency: BUSY seconds of spinning, then IDLE seconds of sleep, until its parent
exits. Usage: bench/burn.py BUSY IDLE (docs/benchmarks.md, session 12: 0.0008 0.009 is about the
usage writer's duty cycle at one connection; run it under `chrt -i 0` for SCHED_IDLE)."""
import os
import sys
import time

busy, idle = float(sys.argv[1]), float(sys.argv[2])
parent = os.getppid()
while os.getppid() == parent:
    t = time.perf_counter()
    while time.perf_counter() - t < busy:
        pass
    time.sleep(idle)
