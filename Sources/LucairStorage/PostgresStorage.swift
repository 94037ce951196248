import Foundation
import LucairCore
import LucairLedger
import LucairWire
import Logging
import PostgresNIO

/// PostgreSQL, for replicas that share state. The client's connection pool runs in a task owned
/// by this object.
public final class PostgresStorage: Storage, SharedLimits {
    let client: PostgresClient
    /// Connections for limit counters only, with asynchronous commit: a counter lost in a
    /// PostgreSQL crash costs a few milliseconds of counts, and no request waits for a WAL flush.
    /// Usage records and keys keep full durability on `client`.
    let limitsClient: PostgresClient
    let logger: Logger
    let runTask: Task<Void, Never>
    /// How the limit counters' connections show in `pg_stat_activity`.
    static let limitsApplicationName = "lucair-limits"
    static let warmLimitConnections = 2

    public init(url: String, logger: Logger) throws {
        guard let u = URLComponents(string: url), let host = u.host else {
            throw StorageError("cannot parse PostgreSQL URL (expected postgres://USER:PASS@HOST:PORT/DB)")
        }
        let db = u.path.hasPrefix("/") ? String(u.path.dropFirst()) : u.path
        var config = PostgresClient.Configuration(
            host: host, port: u.port ?? 5432, username: u.user ?? "postgres", password: u.password,
            database: db.isEmpty ? nil : db, tls: .disable)
        config.options.maximumConnections = 8
        config.options.additionalStartupParameters = [("application_name", "lucair")]
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        var limitsConfig = config
        limitsConfig.options.additionalStartupParameters = [("application_name", Self.limitsApplicationName), ("synchronous_commit", "off")]
        // Open before the first limited request: a grant waits at most 250 ms on the request path,
        // and a burst on a cold pool would spend that opening connections (TCP, SCRAM, a backend
        // fork) and count per replica instead.
        limitsConfig.options.minimumConnections = Self.warmLimitConnections
        let limitsClient = PostgresClient(configuration: limitsConfig, backgroundLogger: logger)
        self.client = client
        self.limitsClient = limitsClient
        self.logger = logger
        runTask = Task {
            await withDiscardingTaskGroup { g in
                g.addTask { await client.run() }
                g.addTask { await limitsClient.run() }
            }
        }
    }

    deinit { runTask.cancel() }

    public func migrate() async throws {
        // One replica migrates at a time: the others wait on the advisory lock, then find nothing to do.
        try await client.withConnection { conn in
            try await conn.query("SELECT pg_advisory_lock(7244117)", logger: self.logger)
            do {
                try await conn.query("CREATE TABLE IF NOT EXISTS lucair_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)", logger: self.logger)
                var applied = Set<Int>()
                for try await (v) in try await conn.query("SELECT version FROM lucair_migrations", logger: self.logger).decode(Int.self) { applied.insert(v) }
                for m in Schema.migrations where !applied.contains(m.version) {
                    try await conn.withTransaction(logger: self.logger) { tx in
                        for sql in m.postgres { try await tx.query(PostgresQuery(unsafeSQL: sql), logger: self.logger) }
                        let now = Int64(Date().timeIntervalSince1970 * 1000)
                        try await tx.query("INSERT INTO lucair_migrations (version, name, applied_at_ms) VALUES (\(m.version), \(m.name), \(now))", logger: self.logger)
                    }
                }
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(7244117)", logger: self.logger)
                throw error
            }
            try await conn.query("SELECT pg_advisory_unlock(7244117)", logger: self.logger)
        }
    }

    public func appliedMigrations() async throws -> [Int] {
        var out: [Int] = []
        for try await v in try await client.query("SELECT version FROM lucair_migrations ORDER BY version", logger: logger).decode(Int.self) { out.append(v) }
        return out
    }

    static func bindings(_ values: [Schema.Value]) -> PostgresBindings {
        var b = PostgresBindings(capacity: values.count)
        for v in values {
            switch v {
            case .text(let s): b.append(s)
            case .int(let i): b.append(i)
            case .bool(let x): b.append(x)
            case .null: b.appendNull()
            }
        }
        return b
    }

    /// Runs `sql` with `$n` placeholders and returns the rows, read by column name.
    func rows(_ sql: String, _ values: [Schema.Value] = [], on conn: PostgresConnection? = nil) async throws -> [PostgresRandomAccessRow] {
        let q = PostgresQuery(unsafeSQL: sql, binds: Self.bindings(values))
        let seq: PostgresRowSequence
        if let conn { seq = try await conn.query(q, logger: logger) } else { seq = try await client.query(q, logger: logger) }
        var out: [PostgresRandomAccessRow] = []
        for try await row in seq { out.append(row.makeRandomAccess()) }
        return out
    }

    static func text(_ row: PostgresRandomAccessRow, _ c: String) -> String? { text(row[c]) }
    static func int(_ row: PostgresRandomAccessRow, _ c: String) -> Int64? { int(row[c]) }
    static func text(_ cell: PostgresCell) -> String? { (try? cell.decode(String?.self)) ?? nil }
    /// Any integer column, or a boolean as 0 / 1.
    static func int(_ cell: PostgresCell) -> Int64? {
        if let b = try? cell.decode(Bool.self) { return b ? 1 : 0 }
        return (try? cell.decode(Int64?.self)) ?? (try? cell.decode(Int32?.self))?.map(Int64.init)
    }

    /// A change to tenants or keys, with the version bump in the same transaction.
    func change(_ body: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws {
        do {
            try await client.withTransaction(logger: logger) { conn in
                try await body(conn)
                try await conn.query(PostgresQuery(unsafeSQL: Schema.bumpKeysVersion), logger: self.logger)
            }
        } catch let e as PostgresTransactionError {
            // Our own errors (a conflict) come back wrapped; callers want them as they were thrown.
            if let inner = e.closureError { throw inner }
            throw e
        }
    }

    func tenantValues(_ t: TenantRecord) -> [Schema.Value] {
        [.text(t.id), .text(t.name), .text(t.kind), .text(t.plan), .text(t.limits.json.jsonString), .int(t.createdAtMillis)]
    }

    public func createTenant(_ t: TenantRecord) async throws {
        let values = tenantValues(t)
        try await change { conn in
            let inserted = try await self.rows("INSERT INTO tenants (\(Schema.tenantColumns)) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id", values, on: conn)
            if inserted.isEmpty { throw StorageError.conflict("a tenant named '\(t.name)' already exists") }
        }
    }

    public func upsertTenant(_ t: TenantRecord) async throws {
        let values = tenantValues(t)
        try await change { conn in
            _ = try await self.rows("INSERT INTO tenants (\(Schema.tenantColumns)) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, plan = EXCLUDED.plan, limits_json = EXCLUDED.limits_json", values, on: conn)
        }
    }

    public func updateTenant(id: String, plan: String?, limits: Limits?) async throws {
        try await change { conn in
            if let plan { _ = try await self.rows("UPDATE tenants SET plan = $1 WHERE id = $2", [.text(plan), .text(id)], on: conn) }
            if let limits { _ = try await self.rows("UPDATE tenants SET limits_json = $1 WHERE id = $2", [.text(limits.json.jsonString), .text(id)], on: conn) }
        }
    }

    func tenants(_ sql: String, _ values: [Schema.Value]) async throws -> [TenantRecord] {
        try await rows("SELECT \(Schema.tenantColumns) FROM tenants \(sql)", values).map { r in
            Schema.tenant(text: { Self.text(r, $0) }, int: { Self.int(r, $0) })
        }
    }

    public func tenant(id: String) async throws -> TenantRecord? { try await tenants("WHERE id = $1", [.text(id)]).first }
    public func tenant(named name: String) async throws -> TenantRecord? { try await tenants("WHERE name = $1", [.text(name)]).first }
    public func tenants() async throws -> [TenantRecord] { try await tenants("ORDER BY created_at_ms, name", []) }

    public func insertKey(_ k: APIKeyRecord) async throws {
        let values = Schema.keyValues(k)
        try await change { conn in
            _ = try await self.rows("INSERT INTO api_keys (\(Schema.keyColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (hash) DO NOTHING", values, on: conn)
        }
    }

    func keys(_ sql: String, _ values: [Schema.Value]) async throws -> [APIKeyRecord] {
        try await rows("SELECT \(Schema.keyColumns) FROM api_keys \(sql)", values).map { r in
            Schema.key(text: { Self.text(r, $0) }, int: { Self.int(r, $0) })
        }
    }

    public func key(id: String) async throws -> APIKeyRecord? { try await keys("WHERE id = $1", [.text(id)]).first }
    public func keys(tenantId: String) async throws -> [APIKeyRecord] { try await keys("WHERE tenant_id = $1 ORDER BY created_at_ms, id", [.text(tenantId)]) }
    public func activeKeys(nowMillis: Int64) async throws -> [APIKeyRecord] {
        try await keys("WHERE revoked_at_ms IS NULL AND (expires_at_ms IS NULL OR expires_at_ms > $1)", [.int(nowMillis)])
    }

    public func revokeLineage(_ lineageId: String, atMillis: Int64) async throws {
        try await change { conn in
            _ = try await self.rows("UPDATE api_keys SET revoked_at_ms = $1 WHERE lineage_id = $2 AND revoked_at_ms IS NULL", [.int(atMillis), .text(lineageId)], on: conn)
        }
    }

    public func updateLineage(_ lineageId: String, scopes: KeyScopes?, limits: Limits?) async throws {
        try await change { conn in
            if let scopes { _ = try await self.rows("UPDATE api_keys SET scopes_json = $1 WHERE lineage_id = $2", [.text(scopes.json.jsonString), .text(lineageId)], on: conn) }
            if let limits { _ = try await self.rows("UPDATE api_keys SET limits_json = $1 WHERE lineage_id = $2", [.text(limits.json.jsonString), .text(lineageId)], on: conn) }
        }
    }

    public func expireKey(id: String, atMillis: Int64) async throws {
        try await change { conn in
            _ = try await self.rows("UPDATE api_keys SET expires_at_ms = $1 WHERE id = $2", [.int(atMillis), .text(id)], on: conn)
        }
    }

    public func keysVersion() async throws -> Int64 {
        try await rows("SELECT version FROM lucair_state WHERE name = 'keys'").first.flatMap { Self.int($0, "version") } ?? 0
    }

    public func usageSummary(tenantId: String, fromMillis: Int64, toMillis: Int64) async throws -> [UsageSummaryRow] {
        try await rows(Schema.usageSummarySQL, [.text(tenantId), .int(fromMillis), .int(toMillis)]).map { r in
            UsageSummaryRow(keyId: Self.text(r, "key_id") ?? "", tier: Self.text(r, "tier") ?? "", model: Self.text(r, "model") ?? "",
                            requests: Self.int(r, "requests") ?? 0, inputTokens: Self.int(r, "input_tokens") ?? 0,
                            cachedInputTokens: Self.int(r, "cached_input_tokens") ?? 0, cacheWriteTokens: Self.int(r, "cache_write_tokens") ?? 0,
                            outputTokens: Self.int(r, "output_tokens") ?? 0, costNano: Self.int(r, "cost_nano") ?? 0)
        }
    }

    public func insertUsage(_ records: [UsageRecord]) async throws {
        guard !records.isEmpty else { return }
        try await client.withTransaction(logger: logger) { conn in
            // One multi-row INSERT per chunk (PostgreSQL allows 65535 binds per statement).
            var fresh = Set<String>()
            for chunk in Self.chunks(records, columns: Schema.usageColumns.count) {
                let rows = try await self.rows(Self.multiRowInsert("usage_records", Schema.usageColumns.map(\.name), chunk.count)
                    + " ON CONFLICT (request_id) DO NOTHING RETURNING request_id", chunk.flatMap(Schema.usageValues), on: conn)
                for r in rows { if let id = Self.text(r, "request_id") { fresh.insert(id) } }
            }
            let inserted = records.filter { fresh.contains($0.requestId) }  // a replayed request id is not chained twice
            guard !inserted.isEmpty else { return }
            // Lock the heads in tenant order (replicas append to one chain one at a time, never deadlocking).
            let tenants = Array(Set(inserted.map(\.tenantId))).sorted()
            var b = PostgresBindings()
            b.append(tenants)
            b.append(Hex.encode(LedgerEntry.genesis))
            try await conn.query(PostgresQuery(unsafeSQL: "INSERT INTO ledger_heads (tenant_id, seq, hash, frontier) SELECT t, 0, $2, '' FROM unnest($1::text[]) AS t ON CONFLICT DO NOTHING", binds: b), logger: self.logger)
            var heads: [String: LedgerHead] = [:]
            var sel = PostgresBindings()
            sel.append(tenants)
            for try await row in try await conn.query(PostgresQuery(unsafeSQL: "SELECT tenant_id, seq, hash, frontier FROM ledger_heads WHERE tenant_id = ANY($1) ORDER BY tenant_id FOR UPDATE", binds: sel), logger: self.logger) {
                let r = row.makeRandomAccess()
                if let t = Self.text(r, "tenant_id"), let h = LedgerHead(seq: Self.int(r, "seq") ?? 0, hashHex: Self.text(r, "hash") ?? "", frontierText: Self.text(r, "frontier") ?? "") { heads[t] = h }
            }
            let entries = LedgerAppend.entries(for: inserted, heads: &heads)
            for chunk in Self.chunks(entries, columns: 7) {
                let values: [Schema.Value] = chunk.flatMap { e, at in
                    [.text(e.tenantId), .int(e.seq), .text(e.kind), .text(e.ref), .text(LedgerRows.derived), .text(Hex.encode(e.hash)), .int(at)]
                }
                _ = try await self.rows(Self.multiRowInsert("ledger_entries", ["tenant_id", "seq", "kind", "ref", "canonical", "hash", "created_at_ms"], chunk.count), values, on: conn)
            }
            let ordered = heads.sorted { $0.key < $1.key }
            var u = PostgresBindings()
            u.append(ordered.map(\.key))
            u.append(ordered.map(\.value.seq))
            u.append(ordered.map { Hex.encode($0.value.hash) })
            u.append(ordered.map(\.value.frontierText))
            try await conn.query(PostgresQuery(unsafeSQL: """
                UPDATE ledger_heads h SET seq = x.seq, hash = x.hash, frontier = x.frontier
                FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS x(tenant_id, seq, hash, frontier) WHERE h.tenant_id = x.tenant_id
                """, binds: u), logger: self.logger)
            let transfers = inserted.compactMap(WalletTransfer.usage)
            for chunk in Self.chunks(transfers, columns: 8) {
                let values: [Schema.Value] = chunk.flatMap { t in [.text(t.id), .text(t.tenant), .text(t.kind), .text(t.debit), .text(t.credit), .int(t.amount), .text(t.ref), .int(t.at)] }
                _ = try await self.rows(Self.multiRowInsert("wallet_transfers", Self.transferColumns, chunk.count) + " ON CONFLICT DO NOTHING", values, on: conn)
            }
        }
    }

    static let transferColumns = ["id", "tenant_id", "kind", "debit", "credit", "amount_nano", "ref", "created_at_ms"]

    public func walletBalances() async throws -> [String: NanoUSD] {
        var out: [String: NanoUSD] = [:]
        for r in try await rows(Schema.walletBalancesSQL) { if let t = Self.text(r, "tenant_id") { out[t] = Self.int(r, "balance") ?? 0 } }
        return out
    }

    public func move(_ m: WalletMove) async throws -> Bool {
        try await client.withTransaction(logger: logger) { conn in
            if let event = m.eventId {
                let fresh = try await self.rows(Self.numbered(BillingSQL.insertEvent) + " RETURNING event_id", [.text(m.source), .text(event), .int(m.atMillis)], on: conn)
                guard !fresh.isEmpty else { return false }
            }
            let inserted = try await self.rows(Self.multiRowInsert("wallet_transfers", Self.transferColumns, 1) + " ON CONFLICT DO NOTHING RETURNING id", m.transferValues, on: conn)
            guard !inserted.isEmpty else { return false }
            _ = try await self.rows("INSERT INTO ledger_heads (tenant_id, seq, hash, frontier) VALUES ($1, 0, $2, '') ON CONFLICT DO NOTHING", [.text(m.tenantId), .text(Hex.encode(LedgerEntry.genesis))], on: conn)
            guard let r = try await self.rows("SELECT seq, hash, frontier FROM ledger_heads WHERE tenant_id = $1 FOR UPDATE", [.text(m.tenantId)], on: conn).first,
                  var head = LedgerHead(seq: Self.int(r, "seq") ?? 0, hashHex: Self.text(r, "hash") ?? "", frontierText: Self.text(r, "frontier") ?? "") else {
                throw StorageError.conflict("ledger head of \(m.tenantId) is unreadable")
            }
            let e = head.append(tenantId: m.tenantId, kind: m.kind.rawValue, ref: m.ref, body: m.ledgerBody)
            _ = try await self.rows(Self.multiRowInsert("ledger_entries", ["tenant_id", "seq", "kind", "ref", "canonical", "hash", "created_at_ms"], 1),
                [.text(e.tenantId), .int(e.seq), .text(e.kind), .text(e.ref), .text(String(decoding: e.canonical, as: UTF8.self)), .text(Hex.encode(e.hash)), .int(m.atMillis)], on: conn)
            _ = try await self.rows("UPDATE ledger_heads SET seq = $2, hash = $3, frontier = $4 WHERE tenant_id = $1",
                [.text(m.tenantId), .int(head.seq), .text(Hex.encode(head.hash)), .text(head.frontierText)], on: conn)
            return true
        }
    }

    /// `?` placeholders (the SQL both databases share) as PostgreSQL's `$1, $2, …`.
    static func numbered(_ sql: String) -> String {
        var out = "", n = 0
        for c in sql {
            if c == "?" { n += 1; out += "$\(n)" } else { out.append(c) }
        }
        return out
    }

    public func walletTransfers(sinceMillis: Int64) async throws -> [WalletTransferRow] {
        try await rows(Self.numbered(BillingSQL.transfersSince), [.int(sinceMillis)]).map { r in
            WalletTransferRow(tenantId: Self.text(r, "tenant_id") ?? "", kind: Self.text(r, "kind") ?? "", debit: Self.text(r, "debit") ?? "",
                              credit: Self.text(r, "credit") ?? "", amountNano: Self.int(r, "amount_nano") ?? 0, ref: Self.text(r, "ref") ?? "",
                              createdAtMillis: Self.int(r, "created_at_ms") ?? 0)
        }
    }

    public func billingAccounts() async throws -> [BillingAccount] {
        try await rows("SELECT \(BillingSQL.accountColumns) FROM billing_accounts").map { r in
            BillingAccount.read(text: { Self.text(r, $0) }, int: { Self.int(r, $0) })
        }
    }

    public func putBillingAccount(_ a: BillingAccount) async throws {
        _ = try await rows(Self.numbered(BillingSQL.putAccount), a.values)
    }

    public func startRecharge(_ r: Recharge, monthlyCapCents: Int64) async throws -> Bool {
        try await client.withTransaction(logger: logger) { conn in
            // Serialises this tenant's recharges, so two replicas cannot both pass the cap check.
            _ = try await self.rows("SELECT pg_advisory_xact_lock(hashtext($1))", [.text("recharge:" + r.tenantId)], on: conn)
            let spent = try await self.rows(Self.numbered(BillingSQL.rechargedThisMonth), [.text(r.tenantId), .text(r.month)], on: conn).first.flatMap { Self.int($0, "total") } ?? 0
            guard spent + r.amountCents <= monthlyCapCents else { return false }
            let inserted = try await self.rows(Self.numbered(BillingSQL.insertRecharge) + " RETURNING id",
                [.text(r.id), .text(r.tenantId), .int(r.amountCents), .text(r.month), .int(r.createdAtMillis)], on: conn)
            return !inserted.isEmpty
        }
    }

    public func finishRecharge(id: String, status: Recharge.Status, paymentIntent: String?, error: String?) async throws {
        _ = try await rows(Self.numbered(BillingSQL.finishRecharge), [.text(status.rawValue), paymentIntent.map { .text($0) } ?? .null, error.map { .text($0) } ?? .null, .text(id)])
    }

    public func recharges(tenantId: String) async throws -> [Recharge] {
        try await rows("SELECT \(BillingSQL.rechargeColumns) FROM recharges WHERE tenant_id = $1 ORDER BY created_at_ms", [.text(tenantId)]).map { r in
            Recharge.read(text: { Self.text(r, $0) }, int: { Self.int(r, $0) })
        }
    }

    public func claimIdempotency(scope: String, key: String, requestHash: String, atMillis: Int64) async throws -> IdempotencyClaim {
        let fresh = try await rows(Self.numbered(BillingSQL.claimKey) + " RETURNING key", [.text(scope), .text(key), .text(requestHash), .int(atMillis)])
        if !fresh.isEmpty { return .claimed }
        let row = try await rows(Self.numbered(BillingSQL.readKey), [.text(scope), .text(key)]).first
        return BillingSQL.claim(hash: requestHash, stored: row.map { (Self.text($0, "request_hash") ?? "", Self.int($0, "status"), Self.text($0, "body")) })
    }

    public func finishIdempotency(scope: String, key: String, status: Int, body: String) async throws {
        _ = try await rows(Self.numbered(BillingSQL.finishKey), [.int(Int64(status)), .text(body), .text(scope), .text(key)])
    }

    public func dropIdempotency(scope: String, key: String) async throws {
        _ = try await rows(Self.numbered(BillingSQL.dropKey), [.text(scope), .text(key)])
    }

    static func chunks<T>(_ a: [T], columns: Int) -> [ArraySlice<T>] {
        let per = 65535 / columns
        return stride(from: 0, to: a.count, by: per).map { a[$0..<min(a.count, $0 + per)] }
    }

    static func multiRowInsert(_ table: String, _ cols: [String], _ n: Int) -> String {
        let rows = (0..<n).map { i in "(" + (1...cols.count).map { "$\(i * cols.count + $0)" }.joined(separator: ",") + ")" }
        return "INSERT INTO \(table) (\(cols.joined(separator: ", "))) VALUES \(rows.joined(separator: ","))"
    }

    public func ledgerTenants() async throws -> [String] {
        try await rows("SELECT tenant_id FROM ledger_heads ORDER BY tenant_id").compactMap { Self.text($0, "tenant_id") }
    }

    /// A row of `LedgerRows.select`, the entry's bytes rebuilt when it keeps none.
    static func stored(_ r: PostgresRandomAccessRow, prevHex: String) -> LedgerVerifier.Stored {
        let seq = int(r, "seq") ?? 0
        let canonical = LedgerRows.canonical(stored: Array((text(r, "canonical") ?? "").utf8), seq: seq, prevHex: prevHex,
                                             text: { text(r[$0]) }, int: { int(r[$0]) })
        return LedgerVerifier.Stored(seq: seq, canonical: canonical, hash: text(r, "hash") ?? "")
    }

    public func ledgerEntries(tenantId: String) async throws -> [LedgerVerifier.Stored] {
        var prevHex = Hex.encode(LedgerEntry.genesis)
        return try await rows(LedgerRows.select() + " WHERE e.tenant_id = $1 ORDER BY e.seq", [.text(tenantId)]).map { r in
            let e = Self.stored(r, prevHex: prevHex)
            prevHex = e.hash
            return e
        }
    }

    public func ledgerHashes(tenantId: String) async throws -> [String] {
        try await rows(Self.numbered(LedgerRows.hashes), [.text(tenantId)]).compactMap { Self.text($0, "hash") }
    }

    public func ledgerEntry(tenantId: String, kind: String, ref: String) async throws -> LedgerVerifier.Stored? {
        try await rows(LedgerRows.select(LedgerRows.previousHash) + " WHERE e.tenant_id = $1 AND e.kind = $2 AND e.ref = $3", [.text(tenantId), .text(kind), .text(ref)]).first.map {
            Self.stored($0, prevHex: Self.text($0[LedgerRows.firstExtraColumn]) ?? Hex.encode(LedgerEntry.genesis))
        }
    }

    public func ledgerHeads() async throws -> [String: LedgerHead] {
        var out: [String: LedgerHead] = [:]
        for r in try await rows("SELECT tenant_id, seq, hash, frontier FROM ledger_heads") {
            if let t = Self.text(r, "tenant_id") { out[t] = LedgerHead(seq: Self.int(r, "seq") ?? 0, hashHex: Self.text(r, "hash") ?? "", frontierText: Self.text(r, "frontier") ?? "") }
        }
        return out
    }

    public func insertCheckpoints(_ cs: [Checkpoint]) async throws {
        for c in cs {
            _ = try await rows("INSERT INTO ledger_checkpoints (tenant_id, size, head, root, created_at_ms, signature) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                               [.text(c.tenantId), .int(c.size), .text(Hex.encode(c.head)), .text(Hex.encode(c.root)), .int(c.createdAtMillis), .text(Hex.encode(c.signature))])
        }
    }

    public func checkpoints(tenantId: String) async throws -> [Checkpoint] {
        try await rows("SELECT size, head, root, created_at_ms, signature FROM ledger_checkpoints WHERE tenant_id = $1 ORDER BY created_at_ms", [.text(tenantId)]).compactMap { r in
            guard let head = Self.text(r, "head").flatMap(Hex.decode), let root = Self.text(r, "root").flatMap(Hex.decode),
                  let sig = Self.text(r, "signature").flatMap(Hex.decode) else { return nil }
            return Checkpoint(tenantId: tenantId, size: Self.int(r, "size") ?? 0, head: head, root: root, createdAtMillis: Self.int(r, "created_at_ms") ?? 0, signature: sig)
        }
    }

    public func usage(requestId: String) async throws -> UsageRecord? {
        let cols = Schema.usageColumns.map(\.name).joined(separator: ", ")
        return try await rows("SELECT \(cols) FROM usage_records WHERE request_id = $1", [.text(requestId)]).first.flatMap { r in
            Schema.usageRecord(text: { Self.text(r, $0) }, int: { Self.int(r, $0) })
        }
    }

    public func usageCount() async throws -> Int {
        for try await n in try await client.query("SELECT COUNT(*) FROM usage_records", logger: logger).decode(Int64.self) { return Int(n) }
        return 0
    }

    public func spend(sinceMillis: Int64) async throws -> [(tenantId: String, keyId: String, costNano: NanoUSD)] {
        try await rows(Schema.spendSQL, [.int(sinceMillis)]).map { r in
            (Self.text(r, "tenant_id") ?? "", Self.text(r, "key_id") ?? "", Self.int(r, "cost_nano") ?? 0)
        }
    }

    /// One grant: a named prepared statement, so each call is Bind + Execute on a connection that
    /// parsed and planned it once (the unnamed-statement path parsed it on every call).
    struct GrantStatement: PostgresPreparedStatement {
        static let name = "lucair_grant_v1"
        static let sql = "SELECT lucair_grant($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        typealias Row = [Int64]
        let r: SharedGrantRequest

        func makeBindings() throws -> PostgresBindings {
            let s = r.scopes
            var b = PostgresBindings(capacity: 19)
            b.append(s.map(\.scope))
            b.append(r.window)
            b.append(s.map { Int64($0.needRequests) })
            b.append(s.map { Int64($0.wantRequests) })
            b.append(s.map { Int64($0.needTokens) })
            b.append(s.map { Int64($0.wantTokens) })
            b.append(s.map { Int64($0.limits.rpm ?? -1) })
            b.append(s.map { Int64($0.limits.tpm ?? -1) })
            b.append(s.map { Int64($0.limits.maxConcurrent ?? -1) })
            b.append(s.map(\.slot))
            b.append(r.day)
            b.append(r.month)
            b.append(s.map { $0.limits.dailySpendCapNano ?? -1 })
            b.append(s.map { $0.limits.monthlySpendCapNano ?? -1 })
            b.append(r.lease)
            b.append(r.nowMillis)
            b.append(r.leaseMillis)
            b.append(r.releases.map(\.scope))
            b.append(r.releases.map(\.lease))
            return b
        }

        func decodeRow(_ row: PostgresRow) throws -> [Int64] { try row.decode([Int64].self) }
    }

    public func grant(_ r: SharedGrantRequest) async throws -> SharedGrant {
        for try await v in try await limitsClient.execute(GrantStatement(r: r), logger: logger) {
            guard let code = v.first, code == 0 else {
                let code = Int(v.first ?? 0)
                return .refused(SharedRefusal(kind: SharedRefusal.Kind(rawValue: code / 1000) ?? .rate, scopeIndex: code % 1000 - 1))
            }
            guard v.count == 1 + 4 * r.scopes.count else { throw StorageError("lucair_grant answered \(v.count) values for \(r.scopes.count) scopes") }
            var shares: [SharedGrant.Share] = []
            for i in 0..<r.scopes.count {
                let at = 1 + 4 * i
                shares.append(SharedGrant.Share(requests: Int(v[at]), tokens: Int(v[at + 1]), spentToday: v[at + 2], spentThisMonth: v[at + 3]))
            }
            return .granted(shares)
        }
        throw StorageError("lucair_grant returned no row")
    }

    public func settle(_ batch: SharedSettleBatch) async throws {
        let leases = batch.leases.sorted { ($0.scope, $0.lease) < ($1.scope, $1.lease) }
        let spend = batch.spend.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        if !leases.isEmpty || !spend.isEmpty {
            var b = PostgresBindings()
            b.append(leases.map(\.scope))
            b.append(leases.map(\.lease))
            b.append(spend.map(\.key.scope))
            b.append(spend.map(\.key.period))
            b.append(spend.map(\.value))
            try await limitsClient.query(PostgresQuery(unsafeSQL: "SELECT lucair_settle_blocks($1, $2, $3, $4, $5)", binds: b), logger: logger)
        }
        let counted = batch.requests.filter { $0.value != 0 }.sorted { ($0.key.scope, $0.key.window) < ($1.key.scope, $1.key.window) }  // sorted: no deadlocks
        guard !counted.isEmpty else { return }
        var r = PostgresBindings()
        r.append(counted.map(\.key.scope))
        r.append(counted.map(\.key.window))
        r.append(counted.map { Int64($0.value) })
        try await limitsClient.query(PostgresQuery(unsafeSQL: """
            INSERT INTO rate_windows (scope, window_start, requests, tokens) SELECT s, w, n, 0 FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS x(s, w, n)
            ON CONFLICT (scope, window_start) DO UPDATE SET requests = rate_windows.requests + EXCLUDED.requests
            """, binds: r), logger: logger)
    }

    public func prune(window: Int64, nowMillis: Int64) async throws {
        try await limitsClient.query("SELECT lucair_prune(\(window), \(nowMillis))", logger: logger)
    }

    public func close() async throws { runTask.cancel() }
}
