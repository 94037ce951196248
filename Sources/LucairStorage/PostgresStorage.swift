import Foundation
import LucairCore
import Logging
import PostgresNIO

/// PostgreSQL, for replicas that share state. The client's connection pool runs in a task owned
/// by this object.
public final class PostgresStorage: Storage {
    let client: PostgresClient
    let logger: Logger
    let runTask: Task<Void, Never>

    public init(url: String, logger: Logger) throws {
        guard let u = URLComponents(string: url), let host = u.host else {
            throw StorageError("cannot parse PostgreSQL URL (expected postgres://USER:PASS@HOST:PORT/DB)")
        }
        let db = u.path.hasPrefix("/") ? String(u.path.dropFirst()) : u.path
        var config = PostgresClient.Configuration(
            host: host, port: u.port ?? 5432, username: u.user ?? "postgres", password: u.password,
            database: db.isEmpty ? nil : db, tls: .disable)
        config.options.maximumConnections = 8
        let client = PostgresClient(configuration: config, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        runTask = Task { await client.run() }
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

    public func upsertTenant(_ t: TenantRecord) async throws {
        try await client.query("INSERT INTO tenants (id, name, kind, created_at_ms) VALUES (\(t.id), \(t.name), \(t.kind), \(t.createdAtMillis)) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind", logger: logger)
    }

    public func tenant(named name: String) async throws -> TenantRecord? {
        for try await (id, n, kind, created) in try await client.query("SELECT id, name, kind, created_at_ms FROM tenants WHERE name = \(name)", logger: logger).decode((String, String, String, Int64).self) {
            return TenantRecord(id: id, name: n, kind: kind, createdAtMillis: created)
        }
        return nil
    }

    public func insertKey(_ k: APIKeyRecord) async throws {
        try await client.query("INSERT INTO api_keys (id, tenant_id, hash, prefix, role, name, created_at_ms, revoked_at_ms) VALUES (\(k.id), \(k.tenantId), \(k.hash), \(k.prefix), \(k.role), \(k.name), \(k.createdAtMillis), \(k.revokedAtMillis)) ON CONFLICT (hash) DO NOTHING", logger: logger)
    }

    public func activeKeys() async throws -> [APIKeyRecord] {
        var out: [APIKeyRecord] = []
        let rows = try await client.query("SELECT id, tenant_id, hash, prefix, role, name, created_at_ms FROM api_keys WHERE revoked_at_ms IS NULL", logger: logger)
        for try await (id, tenant, hash, prefix, role, name, created) in rows.decode((String, String, String, String, String, String, Int64).self) {
            out.append(APIKeyRecord(id: id, tenantId: tenant, hash: hash, prefix: prefix, role: role, name: name, createdAtMillis: created))
        }
        return out
    }

    public func insertUsage(_ records: [UsageRecord]) async throws {
        guard !records.isEmpty else { return }
        // One multi-row INSERT per batch (PostgreSQL allows 65535 binds per statement).
        let cols = Schema.usageColumns.map(\.name)
        let perStatement = 65535 / cols.count
        var start = 0
        while start < records.count {
            let batch = records[start..<min(records.count, start + perStatement)]
            start += batch.count
            var binds = PostgresBindings(capacity: batch.count * cols.count)
            var rows: [String] = []
            var n = 0
            for r in batch {
                var ph: [String] = []
                for v in Schema.usageValues(r) {
                    n += 1
                    ph.append("$\(n)")
                    switch v {
                    case .text(let s): binds.append(s)
                    case .int(let i): binds.append(i)
                    case .bool(let b): binds.append(b)
                    case .null: binds.appendNull()
                    }
                }
                rows.append("(" + ph.joined(separator: ",") + ")")
            }
            let sql = "INSERT INTO usage_records (\(cols.joined(separator: ", "))) VALUES \(rows.joined(separator: ",")) ON CONFLICT (request_id) DO NOTHING"
            try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
    }

    public func usage(requestId: String) async throws -> UsageRecord? {
        let cols = Schema.usageColumns.map(\.name)
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT \(cols.joined(separator: ", ")) FROM usage_records WHERE request_id = $1", binds: {
            var b = PostgresBindings()
            b.append(requestId)
            return b
        }()), logger: logger)
        for try await row in rows {
            let cells = row.makeRandomAccess()
            func text(_ c: String) -> String? { (try? cells[c].decode(String?.self)) ?? nil }
            func int(_ c: String) -> Int64? {
                let cell = cells[c]
                if let b = try? cell.decode(Bool.self) { return b ? 1 : 0 }
                return (try? cell.decode(Int64.self)) ?? (try? cell.decode(Int32.self)).map(Int64.init)
            }
            return Schema.usageRecord(text: text, int: int)
        }
        return nil
    }

    public func usageCount() async throws -> Int {
        for try await n in try await client.query("SELECT COUNT(*) FROM usage_records", logger: logger).decode(Int64.self) { return Int(n) }
        return 0
    }

    public func close() async throws { runTask.cancel() }
}
