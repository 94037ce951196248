import Foundation
import GRDB
import LucairCore

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

    public func upsertTenant(_ t: TenantRecord) async throws {
        try await db.write { db in
            try db.execute(sql: "INSERT INTO tenants (id, name, kind, created_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, kind = excluded.kind",
                           arguments: [t.id, t.name, t.kind, t.createdAtMillis])
        }
    }

    public func tenant(named name: String) async throws -> TenantRecord? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tenants WHERE name = ?", arguments: [name]).map {
                TenantRecord(id: $0["id"], name: $0["name"], kind: $0["kind"], createdAtMillis: $0["created_at_ms"])
            }
        }
    }

    public func insertKey(_ k: APIKeyRecord) async throws {
        try await db.write { db in
            try db.execute(sql: "INSERT INTO api_keys (id, tenant_id, hash, prefix, role, name, created_at_ms, revoked_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(hash) DO NOTHING",
                           arguments: [k.id, k.tenantId, k.hash, k.prefix, k.role, k.name, k.createdAtMillis, k.revokedAtMillis])
        }
    }

    public func activeKeys() async throws -> [APIKeyRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys WHERE revoked_at_ms IS NULL").map {
                APIKeyRecord(id: $0["id"], tenantId: $0["tenant_id"], hash: $0["hash"], prefix: $0["prefix"], role: $0["role"],
                             name: $0["name"], createdAtMillis: $0["created_at_ms"], revokedAtMillis: $0["revoked_at_ms"])
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
            for r in records {
                let args: [(any DatabaseValueConvertible)?] = Schema.usageValues(r).map {
                    switch $0 {
                    case .text(let s): s
                    case .int(let i): i
                    case .bool(let b): b
                    case .null: nil
                    }
                }
                try stmt.execute(arguments: StatementArguments(args))
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

    public func close() async throws {
        if let pool = db as? DatabasePool { try pool.close() }
    }
}
