import LucairCore

/// A tenant (the tenancy issue adds plans, quotas and self-serve).
public struct TenantRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    /// `internal` (meters only) or `external` (prepaid wallet).
    public var kind: String
    public var createdAtMillis: Int64

    public init(id: String, name: String, kind: String, createdAtMillis: Int64) {
        self.id = id
        self.name = name
        self.kind = kind
        self.createdAtMillis = createdAtMillis
    }
}

/// An API key as stored: never the key itself, only its SHA-256 (keys carry 256 random bits, so a
/// plain hash is as strong as a slow one) and a short prefix to recognise it by.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: String
    public var tenantId: String
    public var hash: String
    public var prefix: String
    /// `operator` (may administer Lucair) or `tenant`.
    public var role: String
    public var name: String
    public var createdAtMillis: Int64
    public var revokedAtMillis: Int64?

    public init(id: String, tenantId: String, hash: String, prefix: String, role: String, name: String,
                createdAtMillis: Int64, revokedAtMillis: Int64? = nil) {
        self.id = id
        self.tenantId = tenantId
        self.hash = hash
        self.prefix = prefix
        self.role = role
        self.name = name
        self.createdAtMillis = createdAtMillis
        self.revokedAtMillis = revokedAtMillis
    }
}

/// Everything Lucair keeps, behind one interface with two implementations: SQLite (embedded,
/// single replica) and PostgreSQL (replicas share state). None of it is called on the request path
/// except through the batched usage writer.
public protocol Storage: Sendable {
    /// Applies pending migrations (idempotent; safe when several replicas start at once).
    func migrate() async throws
    /// Versions applied, for tests and `/health`.
    func appliedMigrations() async throws -> [Int]
    func upsertTenant(_ t: TenantRecord) async throws
    func tenant(named: String) async throws -> TenantRecord?
    func insertKey(_ k: APIKeyRecord) async throws
    func activeKeys() async throws -> [APIKeyRecord]
    /// Inserts records; a request id already stored is skipped (idempotent by request id).
    func insertUsage(_ records: [UsageRecord]) async throws
    func usage(requestId: String) async throws -> UsageRecord?
    func usageCount() async throws -> Int
    func close() async throws
}

public enum StorageFactory {
    /// `sqlite://PATH`, `sqlite::memory:`, `postgres://…`.
    public static func open(url: String, logger: Logger) async throws -> any Storage {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return try PostgresStorage(url: url, logger: logger)
        }
        if url == "sqlite::memory:" { return try SQLiteStorage(path: nil) }
        guard url.hasPrefix("sqlite://") else { throw StorageError("unsupported storage URL '\(url)'") }
        return try SQLiteStorage(path: String(url.dropFirst("sqlite://".count)))
    }
}

public struct StorageError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

import Logging
