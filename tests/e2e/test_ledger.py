"""The ledger through the CLI, as an operator and a tenant would use it: requests served through
the official client end up as chained entries; checkpoints are signed; `lucair ledger verify`
passes, then names the first broken link after each kind of tampering done with plain SQL;
an inclusion proof checks with the public key alone, a doctored one does not."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path

import openai

from conftest import BIN_DIR

# RFC 8032 test vector 1: the public key of the e2e config's signing key.
PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def cli(lucair, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN_DIR / "lucair"), "ledger", *args, "--config", str(lucair.config_path)],
                          capture_output=True, text=True, timeout=60)


def db(lucair) -> sqlite3.Connection:
    text = Path(lucair.config_path).read_text()
    path = text.split('url = "sqlite://', 1)[1].split('"', 1)[0]
    return sqlite3.connect(path, isolation_level=None)


def test_ledger_chains_checkpoints_proves_and_catches_tampering(lucair, client: openai.OpenAI, tmp_path: Path) -> None:
    ids = []
    for i in range(6):
        raw = client.chat.completions.with_raw_response.create(
            model="lucair/fast" if i % 2 else "lucair/baseline", messages=[{"role": "user", "content": f"entry {i}"}], stream=False)
        ids.append(raw.headers["x-lucair-request-id"])
    conn = db(lucair)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the usage writer stores in batches, off the request path
        found = conn.execute(f"SELECT count(*) FROM ledger_entries WHERE ref IN ({','.join('?' * len(ids))})", ids).fetchone()[0]
        if found == len(ids):
            break
        time.sleep(0.05)
    assert found == len(ids)
    tenant, seq, stored = conn.execute("SELECT tenant_id, seq, canonical FROM ledger_entries WHERE ref = ?", (ids[3],)).fetchone()
    assert stored == "", "a usage entry's bytes are rebuilt from its usage row, not stored twice"
    cost = conn.execute("SELECT cost_nano FROM usage_records WHERE request_id = ?", (ids[3],)).fetchone()[0]

    assert cli(lucair, "public-key").stdout.strip() == PUBLIC_KEY
    signed = cli(lucair, "checkpoint")
    assert signed.returncode == 0 and tenant in signed.stdout, signed.stderr
    ok = cli(lucair, "verify")
    assert ok.returncode == 0 and "every chain is intact" in ok.stdout, ok.stdout + ok.stderr

    proof_file = tmp_path / "proof.json"
    assert cli(lucair, "prove", "--request", ids[3], "--out", str(proof_file)).returncode == 0
    check = subprocess.run([str(BIN_DIR / "lucair"), "ledger", "check-proof", str(proof_file), "--public-key", PUBLIC_KEY],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.startswith("valid"), check.stdout + check.stderr
    entry = json.loads(proof_file.read_text())["entry"]
    assert entry.startswith(f"lucair-ledger/1 {tenant} {seq} ") and f'"cost_nano":{cost}' in entry and f'"ref":"{ids[3]}"' in entry
    forged = json.loads(proof_file.read_text())
    forged["entry"] = forged["entry"].replace(f'"cost_nano":{cost}', '"cost_nano":1')
    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps(forged))
    bad = subprocess.run([str(BIN_DIR / "lucair"), "ledger", "check-proof", str(forged_file), "--public-key", PUBLIC_KEY],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "INVALID" in bad.stdout

    # Change an amount in the usage row: verify fails and names that entry.
    conn.execute("UPDATE usage_records SET cost_nano = ? WHERE request_id = ?", (cost + 1, ids[3]))
    broken = cli(lucair, "verify")
    assert broken.returncode == 1, broken.stdout
    assert f"first broken link: tenant {tenant}, entry {seq}: content does not match its hash" in broken.stdout, broken.stdout
    conn.execute("UPDATE usage_records SET cost_nano = ? WHERE request_id = ?", (cost, ids[3]))
    assert cli(lucair, "verify").returncode == 0
    # Export: a tenant's files hold its chain, its checkpoints and the key.
    out = tmp_path / "export"
    assert cli(lucair, "export", "--tenant", tenant, "--out", str(out)).returncode == 0
    lines = (out / "entries.jsonl").read_text().splitlines()
    assert len(lines) >= 6 and json.loads(lines[seq - 1])["entry"] == entry
    assert (out / "public-key.hex").read_text().strip() == PUBLIC_KEY
    # Truncate the tail: the signed checkpoint covers more than remains.
    last = conn.execute("SELECT max(seq) FROM ledger_entries WHERE tenant_id = ?", (tenant,)).fetchone()[0]
    conn.execute("DELETE FROM ledger_entries WHERE tenant_id = ? AND seq = ?", (tenant, last))
    truncated = cli(lucair, "verify")
    assert truncated.returncode == 1 and "truncated" in truncated.stdout, truncated.stdout


def test_usage_export_is_a_chargeback_per_team_key_and_model(lucair, client: openai.OpenAI, tmp_path: Path) -> None:
    client.chat.completions.create(model="lucair/fast", messages=[{"role": "user", "content": "chargeback"}])
    out = tmp_path / "usage.csv"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = subprocess.run([str(BIN_DIR / "lucair"), "usage", "export", "--format", "csv", "--out", str(out), "--config", str(lucair.config_path)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        lines = out.read_text().splitlines()
        if any(",claude-haiku-4-5," in l for l in lines):
            break
        time.sleep(0.1)
    assert lines[0].startswith("tenant_id,tenant_name,from,to,key_id,tier,model,requests,")
    row = next(l.split(",") for l in lines[1:] if ",claude-haiku-4-5," in l)
    assert row[1] == "default" and int(row[7]) >= 1 and int(row[12]) > 0
    j = subprocess.run([str(BIN_DIR / "lucair"), "usage", "export", "--format", "json", "--tenant", "default", "--config", str(lucair.config_path)],
                       capture_output=True, text=True, timeout=60)
    doc = json.loads(j.stdout)
    assert doc[0]["tenant_name"] == "default" and doc[0]["total_cost_nano_usd"] > 0
