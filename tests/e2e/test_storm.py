"""A scripted storm: the local engines saturated (4 slots each, 32 clients), 30% of local requests
failing with 500s, and one of the two cloud deployments down (nothing listens). While some allowed
tier is healthy, no client sees a failure: busy or failing Baseline spills to Fast, the dead Fast
deployment's breaker keeps it aside. Prints the counts."""
from __future__ import annotations

import collections
import random
import threading
from pathlib import Path

from conftest import _binary, _start_gateway, lucair_config
from e2e_helpers import ADMIN_KEY, httpx


def storm_config(fake_port: int, tmp: Path) -> str:
    """The e2e config (fake-local, fake-haiku) with 4 slots on fake-local, a second local engine
    (local-2), a Fast deployment nothing listens on (haiku-down), and quick breakers."""
    serve = "spill_wait_ms = 50\nbreaker_failures = 3\nbreaker_cool_down_ms = 2000"
    return lucair_config(fake_port, tmp, serve).replace('name = "fake-local"', 'name = "fake-local"\ncapacity = 4') + f"""
[[tiers.baseline.deployments]]
name = "local-2"
kind = "openai_compatible"
url = "http://127.0.0.1:{fake_port}/v1"
model = "ministral-8b"
capacity = 4
[[tiers.fast.deployments]]
name = "haiku-down"
kind = "anthropic"
url = "http://127.0.0.1:1"
model = "claude-haiku-4-5"
api_key = "test-key"
"""


def test_storm_has_no_client_visible_failures(fake_upstream, tmp_path: Path) -> None:
    config = tmp_path / "lucair.toml"
    config.write_text(storm_config(fake_upstream.port, tmp_path))
    gw = _start_gateway("lucair-storm", [str(_binary("lucair")), "serve", "--config", str(config)], tmp_path, ADMIN_KEY, timeout=60)
    statuses: collections.Counter = collections.Counter()
    served: collections.Counter = collections.Counter()
    local_failures = 0
    lock = threading.Lock()
    rng = random.Random(7)
    plan = [rng.random() < 0.3 for _ in range(480)]  # which requests the local engines fail

    def client(worker: int) -> None:
        nonlocal local_failures
        with httpx.Client(base_url=gw.root_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30) as c:
            for n in range(worker, len(plan), 32):
                fail = plan[n]
                directive = "[fake latency_ms=60 status=500 only=ministral-8b]" if fail else "[fake latency_ms=60 only=ministral-8b]"
                r = c.post("/v1/chat/completions", json={"model": "lucair/baseline", "max_tokens": 16,
                                                          "messages": [{"role": "user", "content": f"storm {n} {directive}"}]})
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        served[r.headers["x-lucair-deployment"]] += 1
                    local_failures += fail

    try:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        with gw.http() as h:
            health = h.get("/health").json()
            metrics = h.get("/metrics").text
    finally:
        gw.proc.stop()
    spills = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("lucair_spills_total{"))
    print(f"\nstorm: {sum(statuses.values())} requests, statuses {dict(statuses)}, served by {dict(served)}, "
          f"local failures scripted {local_failures}, spills {spills:.0f}")
    assert statuses == {200: len(plan)}, f"client-visible failures: {dict(statuses)}"
    assert served["haiku-down"] == 0 and served["fake-haiku"] > 0 and served["fake-local"] + served["local-2"] > 0
    assert spills >= local_failures, "every failed local request spilled to Fast"
    breakers = {d["name"]: d["breaker"] for d in health["deployments"]}
    assert breakers["haiku-down"] in ("open", "half_open"), breakers
