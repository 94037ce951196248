import Foundation
import GRDB
import GRDBSQLite
import LucairCore
import LucairLedger
import LucairWire

/// The embedded default: SQLite in WAL mode through GRDB. Single replica (see ARCHITECTURE.md).
public final class SQLiteStorage: Storage {
    let db: any DatabaseWriter

    /// `path` nil opens a private in-memory database.
    public init(path: String?) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        if let path {
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            db = try DatabasePool(path: path, configuration: config)
        } else {
            db = try DatabaseQueue(configuration: config)
        }
    }

    public func migrate() async throws {
        var migrator = DatabaseMigrator()
        for m in Schema.migrations {
            migrator.registerMigration("\(m.version)_\(m.name)") { db in
                for sql in m.sqlite { try db.execute(sql: sql) }
            }
        }
        try migrator.migrate(db)
    }

    public func appliedMigrations() async throws -> [Int] {
        try await db.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations").compactMap { Int($0.split(separator: "_").first ?? "") }.sorted()
        }
    }

    static func args(_ values: [Schema.Value]) -> StatementArguments {
        StatementArguments(values.map { v -> (any DatabaseValueConvertible)? in
            switch v {
            case .text(let s): s
            case .int(let i): i
            case .bool(let b): b
            case .null: nil
            }
        })
    }

    func tenantValues(_ t: TenantRecord) -> StatementArguments {
        [t.id, t.name, t.kind, t.plan, t.limits.json.jsonString, t.createdAtMillis]
    }

    public func createTenant(_ t: TenantRecord) async throws {
        try await db.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM tenants WHERE name = ? OR id = ?", arguments: [t.name, t.id]) == true {
                throw StorageError.conflict("a tenant named '\(t.name)' already exists")
            }
            try db.execute(sql: "INSERT INTO tenants (\(Schema.tenantColumns)) VALUES (?, ?, ?, ?, ?, ?)", arguments: tenantValues(t))
            try db.execute(sql: Schema.bumpKeysVersion)
        }
    }

    public func upsertTenant(_ t: TenantRecord) async throws {
        try await db.write { db in
            try db.execute(sql: "INSERT INTO tenants (\(Schema.tenantColumns)) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, kind = excluded.kind, plan = excluded.plan, limits_json = excluded.limits_json",
                           arguments: tenantValues(t))
            try db.execute(sql: Schema.bumpKeysVersion)
        }
    }

    public func updateTenant(id: String, plan: String?, limits: Limits?) async throws {
        try await db.write { db in
            if let plan { try db.execute(sql: "UPDATE tenants SET plan = ? WHERE id = ?", arguments: [plan, id]) }
            if let limits { try db.execute(sql: "UPDATE tenants SET limits_json = ? WHERE id = ?", arguments: [limits.json.jsonString, id]) }
            try db.execute(sql: Schema.bumpKeysVersion)
        }
    }

    func tenants(_ sql: String, _ args: StatementArguments) async throws -> [TenantRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Schema.tenantColumns) FROM tenants \(sql)", arguments: args).map { row in
                Schema.tenant(text: { row[$0] }, int: { row[$0] })
            }
        }
    }

    public func tenant(id: String) async throws -> TenantRecord? { try await tenants("WHERE id = ?", [id]).first }
    public func tenant(named name: String) async throws -> TenantRecord? { try await tenants("WHERE name = ?", [name]).first }
    public func tenants() async throws -> [TenantRecord] { try await tenants("ORDER BY created_at_ms, name", []) }

    public func insertKey(_ k: APIKeyRecord) async throws {
        try await db.write { db in
            try db.execute(sql: "INSERT INTO api_keys (\(Schema.keyColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(hash) DO NOTHING",
                           arguments: Self.args(Schema.keyValues(k)))
            try db.execute(sql: Schema.bumpKeysVersion)
        }
    }

    func keys(_ sql: String, _ args: StatementArguments) async throws -> [APIKeyRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Schema.keyColumns) FROM api_keys \(sql)", arguments: args).map { row in
                Schema.key(text: { row[$0] }, int: { row[$0] })
            }
        }
    }

    public func key(id: String) async throws -> APIKeyRecord? { try await keys("WHERE id = ?", [id]).first }
    public func keys(tenantId: String) async throws -> [APIKeyRecord] { try await keys("WHERE tenant_id = ? ORDER BY created_at_ms, id", [tenantId]) }
    public func activeKeys(nowMillis: Int64) async throws -> [APIKeyRecord] {
        try await keys("WHERE revoked_at_ms IS NULL AND (expires_at_ms IS NULL OR expires_at_ms > ?)", [nowMillis])
    }

    public func revokeLineage(_ lineageId: String, atMillis: Int64) async throws {
        try await db.write { db in
            try db.execute(sql: "UPDATE api_keys SET revoked_at_ms = ? WHERE lineage_id = ? AND revoked_at_ms IS NULL", arguments: [atMillis, lineageId])
            try db.execute(sql: Schema.bumpKeysVersion)
        }
    }

    public func updateLineage(_ lineageId: String, scopes: KeyScopes?, limits: Limits?) async throws {
        try await db.write { db in
            if let scopes { try db.execute(sql: "UPDATE api_keys SET scopes_json = ? WHERE lineage_id = ?", arguments: [scopes.json.jsonString, lineageId]) }
            if let limits { try db.execute(sql: "UPDATE api_keys SET limits_json = ? WHERE lineage_id = ?", arguments: [limits.json.jsonString, lineageId]) }
            try db.execute(sql: Schema.bumpKeysVersion)
        }
    }

    public func expireKey(id: String, atMillis: Int64) async throws {
        try await db.write { db in
            try db.execute(sql: "UPDATE api_keys SET expires_at_ms = ? WHERE id = ?", arguments: [atMillis, id])
            try db.execute(sql: Schema.bumpKeysVersion)
        }
    }

    public func keysVersion() async throws -> Int64 {
        try await db.read { db in try Int64.fetchOne(db, sql: "SELECT version FROM lucair_state WHERE name = 'keys'") ?? 0 }
    }

    public func usageSummary(tenantId: String, fromMillis: Int64, toMillis: Int64) async throws -> [UsageSummaryRow] {
        try await db.read { db in
            try Row.fetchAll(db, sql: Schema.usageSummarySQL, arguments: [tenantId, fromMillis, toMillis]).map {
                UsageSummaryRow(keyId: $0["key_id"], tier: $0["tier"], model: $0["model"], requests: $0["requests"],
                                inputTokens: $0["input_tokens"], cachedInputTokens: $0["cached_input_tokens"],
                                cacheWriteTokens: $0["cache_write_tokens"], outputTokens: $0["output_tokens"], costNano: $0["cost_nano"])
            }
        }
    }

    static let insertUsageSQL: String = {
        let cols = Schema.usageColumns.map(\.name)
        return "INSERT INTO usage_records (\(cols.joined(separator: ", "))) VALUES (\(cols.map { _ in "?" }.joined(separator: ", "))) ON CONFLICT(request_id) DO NOTHING"
    }()

    public func insertUsage(_ records: [UsageRecord]) async throws {
        guard !records.isEmpty else { return }
        try await db.write { db in
            let stmt = try db.cachedStatement(sql: Self.insertUsageSQL)
            var inserted: [UsageRecord] = []
            for r in records {
                if try Self.run(stmt, Schema.usageValues(r), db) { inserted.append(r) }  // a replayed request id is not chained twice
            }
            guard !inserted.isEmpty else { return }
            var heads: [String: LedgerHead] = [:]
            for t in Set(inserted.map(\.tenantId)) { heads[t] = try Self.head(t, db) }
            let add = try db.cachedStatement(sql: "INSERT INTO ledger_entries (tenant_id, seq, kind, ref, canonical, hash, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)")
            for (e, at) in LedgerAppend.entries(for: inserted, heads: &heads) {
                _ = try Self.run(add, [.text(e.tenantId), .int(e.seq), .text(e.kind), .text(e.ref), .text(LedgerRows.derived),
                                       .text(Hex.encode(e.hash)), .int(at)], db)
            }
            try Self.putHeads(heads, db)
            let transfer = try db.cachedStatement(sql: Self.insertTransferSQL)
            for r in inserted {
                if let t = WalletTransfer.usage(r) { try transfer.execute(arguments: [t.id, t.tenant, t.kind, t.debit, t.credit, t.amount, t.ref, t.at]) }
            }
        }
    }

    /// SQLite's "copy the value now" destructor, a C macro Swift cannot import.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Binds `values` and steps `stmt` once through SQLite's C API; true when a row changed. The
    /// usage writer's inner loop: GRDB's `StatementArguments` (an existential per value) took about
    /// a fifth of the writer's time per record in a profile. Written here because GRDB offers no
    /// cheaper binding of a statement it prepared.
    static func run(_ stmt: Statement, _ values: [Schema.Value], _ db: Database) throws -> Bool {
        let s = stmt.sqliteStatement
        sqlite3_reset(s)
        defer {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)  // no binding outlives the buffer it points into
        }
        // Every text value is copied end to end into one buffer (on the stack at these sizes) and
        // bound in place (`SQLITE_STATIC`) until the step: SQLite's own copy of each text was an
        // allocation apiece, ≈ 11 per request.
        let textBytes = values.reduce(0) { n, v in if case .text(let t) = v { n + t.utf8.count } else { n } }
        let rc = try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(textBytes, 1)) { buffer in
            var at = buffer.baseAddress!
            for (i, v) in values.enumerated() {
                let k = Int32(i + 1)
                let rc: Int32
                switch v {
                case .text(var t):
                    rc = t.withUTF8 { utf8 in
                        // An empty buffer has no address, and a null pointer would bind NULL.
                        guard let from = utf8.baseAddress, !utf8.isEmpty else { return sqlite3_bind_text(s, k, "", 0, transient) }
                        at.initialize(from: from, count: utf8.count)
                        defer { at += utf8.count }
                        return sqlite3_bind_text(s, k, at, Int32(utf8.count), nil)  // nil: SQLITE_STATIC
                    }
                case .int(let n): rc = sqlite3_bind_int64(s, k, n)
                case .bool(let b): rc = sqlite3_bind_int64(s, k, b ? 1 : 0)
                case .null: rc = sqlite3_bind_null(s, k)
                }
                guard rc == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: stmt.sql) }
            }
            return sqlite3_step(s)
        }
        guard rc == SQLITE_DONE else { throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: stmt.sql) }
        return sqlite3_changes(db.sqliteConnection) > 0
    }

    static let insertTransferSQL = "INSERT INTO wallet_transfers (id, tenant_id, kind, debit, credit, amount_nano, ref, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"

    static func putHeads(_ heads: [String: LedgerHead], _ db: Database) throws {
        let put = try db.cachedStatement(sql: "INSERT INTO ledger_heads (tenant_id, seq, hash, frontier) VALUES (?, ?, ?, ?) ON CONFLICT(tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, frontier = excluded.frontier")
        for (t, h) in heads { try put.execute(arguments: [t, h.seq, Hex.encode(h.hash), h.frontierText]) }
    }

    static func head(_ tenant: String, _ db: Database) throws -> LedgerHead {
        let select = try db.cachedStatement(sql: "SELECT seq, hash, frontier FROM ledger_heads WHERE tenant_id = ?")
        guard let row = try Row.fetchOne(select, arguments: [tenant]) else { return LedgerHead() }
        return LedgerHead(seq: row["seq"], hashHex: row["hash"], frontierText: row["frontier"]) ?? LedgerHead()
    }

    public func walletBalances() async throws -> [String: NanoUSD] {
        try await db.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: Schema.walletBalancesSQL).map { ($0["tenant_id"], $0["balance"]) })
        }
    }

    public func move(_ m: WalletMove) async throws -> Bool {
        try await db.write { db in
            if let event = m.eventId {
                try db.execute(sql: BillingSQL.insertEvent, arguments: [m.source, event, m.atMillis])
                guard db.changesCount > 0 else { return false }
            }
            try db.execute(sql: Self.insertTransferSQL, arguments: Self.args(m.transferValues))
            guard db.changesCount > 0 else { return false }
            var head = try Self.head(m.tenantId, db)
            let e = head.append(tenantId: m.tenantId, kind: m.kind.rawValue, ref: m.ref, body: m.ledgerBody)
            try db.execute(sql: "INSERT INTO ledger_entries (tenant_id, seq, kind, ref, canonical, hash, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [e.tenantId, e.seq, e.kind, e.ref, String(decoding: e.canonical, as: UTF8.self), Hex.encode(e.hash), m.atMillis])
            try Self.putHeads([m.tenantId: head], db)
            return true
        }
    }

    public func walletTransfers(sinceMillis: Int64) async throws -> [WalletTransferRow] {
        try await db.read { db in
            try Row.fetchAll(db, sql: BillingSQL.transfersSince, arguments: [sinceMillis]).map {
                WalletTransferRow(tenantId: $0["tenant_id"], kind: $0["kind"], debit: $0["debit"], credit: $0["credit"],
                                  amountNano: $0["amount_nano"], ref: $0["ref"], createdAtMillis: $0["created_at_ms"])
            }
        }
    }

    public func billingAccounts() async throws -> [BillingAccount] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT \(BillingSQL.accountColumns) FROM billing_accounts").map { r in
                BillingAccount.read(text: { r[$0] }, int: { r[$0] })
            }
        }
    }

    public func putBillingAccount(_ a: BillingAccount) async throws {
        try await db.write { db in try db.execute(sql: BillingSQL.putAccount, arguments: Self.args(a.values)) }
    }

    public func startRecharge(_ r: Recharge, monthlyCapCents: Int64) async throws -> Bool {
        try await db.write { db in
            let spent = try Int64.fetchOne(db, sql: BillingSQL.rechargedThisMonth, arguments: [r.tenantId, r.month]) ?? 0
            guard spent + r.amountCents <= monthlyCapCents else { return false }
            do {
                try db.execute(sql: BillingSQL.insertRecharge, arguments: [r.id, r.tenantId, r.amountCents, r.month, r.createdAtMillis])
            } catch let e as DatabaseError where e.resultCode == .SQLITE_CONSTRAINT {
                return false  // one is already pending
            }
            return db.changesCount > 0
        }
    }

    public func finishRecharge(id: String, status: Recharge.Status, paymentIntent: String?, error: String?) async throws {
        try await db.write { db in try db.execute(sql: BillingSQL.finishRecharge, arguments: [status.rawValue, paymentIntent, error, id]) }
    }

    public func recharges(tenantId: String) async throws -> [Recharge] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT \(BillingSQL.rechargeColumns) FROM recharges WHERE tenant_id = ? ORDER BY created_at_ms", arguments: [tenantId]).map { r in
                Recharge.read(text: { r[$0] }, int: { r[$0] })
            }
        }
    }

    public func claimIdempotency(scope: String, key: String, requestHash: String, atMillis: Int64) async throws -> IdempotencyClaim {
        try await db.write { db in
            try db.execute(sql: BillingSQL.claimKey, arguments: [scope, key, requestHash, atMillis])
            if db.changesCount > 0 { return .claimed }
            let row = try Row.fetchOne(db, sql: BillingSQL.readKey, arguments: [scope, key])
            return BillingSQL.claim(hash: requestHash, stored: row.map { ($0["request_hash"], $0["status"], $0["body"]) })
        }
    }

    public func finishIdempotency(scope: String, key: String, status: Int, body: String) async throws {
        try await db.write { db in try db.execute(sql: BillingSQL.finishKey, arguments: [status, body, scope, key]) }
    }

    public func dropIdempotency(scope: String, key: String) async throws {
        try await db.write { db in try db.execute(sql: BillingSQL.dropKey, arguments: [scope, key]) }
    }

    public func ledgerTenants() async throws -> [String] {
        try await db.read { db in try String.fetchAll(db, sql: "SELECT tenant_id FROM ledger_heads ORDER BY tenant_id") }
    }

    public func ledgerEntries(tenantId: String) async throws -> [LedgerVerifier.Stored] {
        try await db.read { db in
            // A cursor read by column index, the text copied straight into bytes: verification is
            // bounded by this read (docs/benchmarks.md, Ledger).
            let rows = try Row.fetchCursor(db, sql: LedgerRows.select() + " WHERE e.tenant_id = ? ORDER BY e.seq", arguments: [tenantId])
            var out: [LedgerVerifier.Stored] = []
            var prevHex = Hex.encode(LedgerEntry.genesis)
            while let row = try rows.next() {
                let e = try Self.stored(row, prevHex: prevHex)
                prevHex = e.hash
                out.append(e)
            }
            return out
        }
    }

    public func ledgerHashes(tenantId: String) async throws -> [String] {
        try await db.read { db in try String.fetchAll(db, sql: LedgerRows.hashes, arguments: [tenantId]) }
    }

    /// A row of `LedgerRows.select`, the entry's bytes rebuilt when it keeps none.
    static func stored(_ row: Row, prevHex: String) throws -> LedgerVerifier.Stored {
        let seq: Int64 = row[0]
        let bytes = try row.withUnsafeData(atIndex: 1) { $0.map { [UInt8]($0) } ?? [] }
        let canonical = LedgerRows.canonical(stored: bytes, seq: seq, prevHex: prevHex,
                                             // Converted without trapping: a tampered row may hold anything.
                                             text: { String.fromDatabaseValue(row[$0]) }, int: { Int64.fromDatabaseValue(row[$0]) })
        return LedgerVerifier.Stored(seq: seq, canonical: canonical, hash: row[2])
    }

    public func ledgerEntry(tenantId: String, kind: String, ref: String) async throws -> LedgerVerifier.Stored? {
        try await db.read { db in
            try Row.fetchOne(db, sql: LedgerRows.select(LedgerRows.previousHash) + " WHERE e.tenant_id = ? AND e.kind = ? AND e.ref = ?", arguments: [tenantId, kind, ref]).map {
                try Self.stored($0, prevHex: ($0[LedgerRows.firstExtraColumn] as String?) ?? Hex.encode(LedgerEntry.genesis))
            }
        }
    }

    public func ledgerHeads() async throws -> [String: LedgerHead] {
        try await db.read { db in
            var out: [String: LedgerHead] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT tenant_id, seq, hash, frontier FROM ledger_heads") {
                out[row["tenant_id"]] = LedgerHead(seq: row["seq"], hashHex: row["hash"], frontierText: row["frontier"])
            }
            return out
        }
    }

    public func insertCheckpoints(_ cs: [Checkpoint]) async throws {
        try await db.write { db in
            for c in cs {
                try db.execute(sql: "INSERT INTO ledger_checkpoints (tenant_id, size, head, root, created_at_ms, signature) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               arguments: [c.tenantId, c.size, Hex.encode(c.head), Hex.encode(c.root), c.createdAtMillis, Hex.encode(c.signature)])
            }
        }
    }

    public func checkpoints(tenantId: String) async throws -> [Checkpoint] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT size, head, root, created_at_ms, signature FROM ledger_checkpoints WHERE tenant_id = ? ORDER BY created_at_ms", arguments: [tenantId]).compactMap { r in
                guard let head = Hex.decode(r["head"] as String), let root = Hex.decode(r["root"] as String), let sig = Hex.decode(r["signature"] as String) else { return nil }
                return Checkpoint(tenantId: tenantId, size: r["size"], head: head, root: root, createdAtMillis: r["created_at_ms"], signature: sig)
            }
        }
    }

    public func usage(requestId: String) async throws -> UsageRecord? {
        try await db.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM usage_records WHERE request_id = ?", arguments: [requestId]) else { return nil }
            return Schema.usageRecord(text: { row[$0] }, int: { row[$0] })
        }
    }

    public func usageCount() async throws -> Int {
        try await db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM usage_records") ?? 0 }
    }

    public func spend(sinceMillis: Int64) async throws -> [(tenantId: String, keyId: String, costNano: NanoUSD)] {
        try await db.read { db in
            try Row.fetchAll(db, sql: Schema.spendSQL, arguments: [sinceMillis]).map { ($0["tenant_id"], $0["key_id"], $0["cost_nano"]) }
        }
    }

    public func close() async throws {
        if let pool = db as? DatabasePool { try pool.close() }
    }
}
