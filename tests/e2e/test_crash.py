"""kill -9 in the middle of paid traffic, then a restart on the same database: the ledger still
verifies, no hold survives, every request the client got an answer for has exactly one ledger
entry (a paid answer waits until its record is stored), and the wallet's balance is what its
ledger entries say."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from conftest import BIN_DIR, _binary, _start_gateway, lucair_config
from e2e_helpers import ADMIN_KEY, httpx


def test_kill_9_mid_load_then_restart(fake_upstream, tmp_path: Path) -> None:
    config = tmp_path / "lucair.toml"
    config.write_text(lucair_config(fake_upstream.port, tmp_path))
    argv = [str(_binary("lucair")), "serve", "--config", str(config)]
    gw = _start_gateway("crash-before", argv, tmp_path, ADMIN_KEY, timeout=60)
    try:
        with gw.http() as h:
            tenant = h.post("/admin/v1/tenants", json={"name": "crashy", "kind": "external", "plan": "enterprise"}).json()
            key = h.post(f"/admin/v1/tenants/{tenant['id']}/keys", json={"name": "app"}).json()["key"]
            assert h.post(f"/admin/v1/tenants/{tenant['id']}/wallet/topups", json={"amount_nano": 1_000_000_000, "reference": "pay_1"}).status_code == 201
        time.sleep(0.4)  # the key reaches the running gateway's key ring
        stop = threading.Event()
        served: list[str] = []  # request ids answered 200 (list.append is atomic across threads)

        def load(i: int) -> None:
            with httpx.Client(base_url=gw.root_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
                while not stop.is_set():
                    body = {"model": "lucair/fast" if i % 2 else "lucair/baseline", "max_tokens": 32, "stream": i % 3 == 0,
                            "messages": [{"role": "user", "content": "work [fake latency_ms=20 chunks=8 chunk_delay_ms=5]"}]}
                    try:
                        r = c.post("/v1/chat/completions", json=body)
                        if r.status_code == 200 and (not body["stream"] or "data: [DONE]" in r.text):
                            served.append(r.headers["x-lucair-request-id"])
                    except httpx.HTTPError:
                        pass  # the gateway is gone

        threads = [threading.Thread(target=load, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30  # until the load runs, however slow the machine
        while len(served) <= 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        gw.proc.proc.kill()  # SIGKILL: no graceful shutdown, no final flush
        gw.proc.proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        assert len(served) > 20, "the load must have been running when the gateway died"
    finally:
        gw.proc.stop()

    again = _start_gateway("crash-after", argv, tmp_path, ADMIN_KEY, timeout=60)
    try:
        verify = subprocess.run([str(BIN_DIR / "lucair"), "ledger", "verify", "--config", str(config)], capture_output=True, text=True, timeout=120)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        with again.http() as h:
            wallet = h.get(f"/admin/v1/tenants/{tenant['id']}/wallet").json()
        assert wallet["held_nano"] == 0, wallet
        db = sqlite3.connect(str(tmp_path / "lucair.sqlite"))
        # The entries as a tenant gets them (usage entries are rebuilt from their usage rows).
        out = tmp_path / "export"
        export = subprocess.run([str(BIN_DIR / "lucair"), "ledger", "export", "--tenant", tenant["id"], "--out", str(out), "--config", str(config)],
                                capture_output=True, text=True, timeout=120)
        assert export.returncode == 0, export.stderr
        entries = [json.loads(json.loads(line)["entry"].split("\n", 1)[1]) for line in (out / "entries.jsonl").read_text().splitlines()]
        usage = [e for e in entries if e["kind"] == "usage"]
        topups = sum(e["amount_nano"] for e in entries if e["kind"] == "topup")
        stored = db.execute("SELECT count(*) FROM usage_records WHERE tenant_id = ?", (tenant["id"],)).fetchone()[0]
        assert stored == len(usage) and len({e["ref"] for e in usage}) == len(usage), "exactly one entry per stored request"
        refs = {e["ref"] for e in usage}
        print(f"answered before the kill: {len(served)}, stored with a ledger entry: {stored}")
        assert set(served) <= refs, f"{len(set(served) - refs)} answered requests have no ledger entry"
        assert topups == 1_000_000_000
        assert wallet["balance_nano"] == topups - sum(e["cost_nano"] for e in usage), wallet
        assert wallet["balance_nano"] >= 0
    finally:
        again.proc.stop()
