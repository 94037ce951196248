#!/usr/bin/env python3
"""What storing one usage record costs SQLite, modelled in Python's sqlite3 on the shapes the usage
writer writes (a usage row, a ledger entry, the chain head once per batch; WAL, synchronous=NORMAL),
with variants: WITHOUT ROWID tables, and ledger entries without their canonical text (which repeats
the usage row). Python adds its own few microseconds per record: compare the variants, not the
absolute figures. Usage: bench/ledger_rows.py [BATCH] [RECORDS] (docs/benchmarks.md, session 12)."""
import os
import random
import sqlite3
import sys
import tempfile
import time

USAGE_COLUMNS = ["request_id TEXT PRIMARY KEY", "tenant_id TEXT NOT NULL", "key_id TEXT NOT NULL", "endpoint TEXT NOT NULL",
                 "tier TEXT NOT NULL", "model TEXT NOT NULL", "deployment TEXT NOT NULL", "stream BOOLEAN NOT NULL",
                 "status INTEGER NOT NULL", "error_type TEXT", "input_tokens BIGINT NOT NULL", "cached_input_tokens BIGINT NOT NULL",
                 "cache_write_tokens BIGINT NOT NULL", "output_tokens BIGINT NOT NULL", "reasoning_tokens BIGINT NOT NULL",
                 "estimated BOOLEAN NOT NULL", "price_version TEXT NOT NULL", "price_input_nano BIGINT NOT NULL",
                 "price_cached_input_nano BIGINT NOT NULL", "price_cache_write_nano BIGINT NOT NULL", "price_output_nano BIGINT NOT NULL",
                 "cost_nano BIGINT NOT NULL", "queue_us BIGINT NOT NULL", "ttft_us BIGINT NOT NULL", "total_us BIGINT NOT NULL",
                 "created_at_ms BIGINT NOT NULL", "spilled_from TEXT"]


def run(folder: str, variant: str, records: int, batch: int) -> None:
    path = os.path.join(folder, variant + ".sqlite")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    without_rowid = " WITHOUT ROWID" if variant.startswith("without_rowid") else ""
    db.execute(f"CREATE TABLE usage_records ({', '.join(USAGE_COLUMNS)}){without_rowid}")
    db.execute("CREATE INDEX usage_records_tenant_time ON usage_records (tenant_id, created_at_ms)")
    db.execute("CREATE TABLE ledger_entries (tenant_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, "
               f"canonical TEXT NOT NULL, hash TEXT NOT NULL, created_at_ms BIGINT NOT NULL, PRIMARY KEY (tenant_id, seq)){without_rowid}")
    db.execute("CREATE TABLE ledger_heads (tenant_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, frontier TEXT NOT NULL)")
    canonical = "" if variant.endswith("no_canonical") else "x" * 537  # a usage entry's canonical bytes, as measured
    now = 1_795_000_000_000
    rows = [("req_%012x%016x" % (now + i // 3, random.getrandbits(64)), "ten_bench", "key_bench", "chat.completions", "baseline",
             "ministral-8b", "fake-baseline", 0, 200, None, 12, 0, 0, 20, 0, 0, "2026-01-01", 200, 0, 0, 1000, 22400, 0, 1000, 5000,
             now + i // 3, None) for i in range(records)]
    insert = "INSERT INTO usage_records VALUES (%s) ON CONFLICT DO NOTHING" % ",".join("?" * len(USAGE_COLUMNS))
    seq = 0
    t0 = time.perf_counter()
    for b in range(0, records, batch):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(insert, rows[b:b + batch])
        db.execute("SELECT seq, hash, frontier FROM ledger_heads WHERE tenant_id = ?", ("ten_bench",)).fetchall()
        entries = []
        for r in rows[b:b + batch]:
            seq += 1
            entries.append(("ten_bench", seq, "usage", r[0], canonical, "h" * 64, r[25]))
        db.executemany("INSERT INTO ledger_entries VALUES (?, ?, ?, ?, ?, ?, ?)", entries)
        db.execute("INSERT INTO ledger_heads VALUES (?, ?, ?, ?) ON CONFLICT(tenant_id) DO UPDATE SET seq = excluded.seq, "
                   "hash = excluded.hash, frontier = excluded.frontier", ("ten_bench", seq, "h" * 64, "f" * 519))
        db.execute("COMMIT")
    took = time.perf_counter() - t0
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    print(f"| {variant} | {batch} | {took / records * 1e6:.1f} | {pages} |")


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 60_000
    print("| variant | batch | µs per record | database pages |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as folder:
        for round_ in range(2):  # two rounds, variants alternated: the machine's noise falls on all
            sub = os.path.join(folder, f"round{round_}")
            os.makedirs(sub)
            for variant in ("as_stored", "without_rowid", "as_stored_no_canonical", "without_rowid_no_canonical"):
                run(sub, variant, records, batch)


if __name__ == "__main__":
    main()
