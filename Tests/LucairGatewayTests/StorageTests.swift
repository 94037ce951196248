import Foundation
import Logging
import LucairCore
import LucairLedger
import LucairStorage
import LucairWire
import Testing

/// The same checks against both implementations of `Storage`. PostgreSQL comes from
/// LUCAIR_TEST_POSTGRES_URL (scripts/test.sh starts it); without it the PostgreSQL case fails
/// rather than being skipped.
@Suite(.serialized, .timeLimit(.minutes(3))) struct StorageTests {
    static let backends = ["sqlite", "postgres"]

    func open(_ kind: String) async throws -> any Storage {
        let logger = Logger(label: "test")
        if kind == "sqlite" {
            let path = NSTemporaryDirectory() + "lucair-test-\(UUID().uuidString)/db.sqlite"
            return try await StorageFactory.open(url: "sqlite://\(path)", logger: logger)
        }
        let url = try #require(ProcessInfo.processInfo.environment["LUCAIR_TEST_POSTGRES_URL"], "set LUCAIR_TEST_POSTGRES_URL (scripts/postgres.sh prints one)")
        return try await StorageFactory.open(url: url, logger: logger)
    }

    static func record(_ id: String, tenant: String = "ten_default") -> UsageRecord {
        UsageRecord(requestId: id, tenantId: tenant, keyId: "key_1", endpoint: "chat.completions", tier: "fast", model: "claude-haiku-4-5",
                    deployment: "d", stream: true, status: 200, errorType: nil,
                    usage: TokenUsage(input: 10, cachedInput: 20, cacheWrite: 30, output: 40, reasoning: 5, estimated: true),
                    priceVersion: "v1", unitPrice: ModelPrice(input: 1000, cachedInput: 100, cacheWrite: 1250, output: 5000),
                    queueMicros: 1, ttftMicros: 2, totalMicros: 3, createdAtMillis: 1_795_000_000_000)
    }

    @Test(arguments: backends)
    func migrationsApplyOnceAndConcurrently(_ kind: String) async throws {
        let s = try await open(kind)
        // Several replicas starting at once must not race.
        try await withThrowingTaskGroup(of: Void.self) { g in
            for _ in 0..<3 { g.addTask { try await s.migrate() } }
            try await g.waitForAll()
        }
        try await s.migrate()
        #expect(try await s.appliedMigrations() == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        try await s.close()
    }

    @Test(arguments: backends)
    func usageRecordsRoundTripAndAreIdempotentByRequestId(_ kind: String) async throws {
        let s = try await open(kind)
        try await s.migrate()
        let id = "req_\(UUID().uuidString)"
        let tenant = "ten_\(UUID().uuidString.prefix(8))"  // other suites write usage to the same database meanwhile
        let r = Self.record(id, tenant: tenant)
        try await s.insertUsage([r, Self.record(id + "b", tenant: tenant)])
        try await s.insertUsage([r])  // a replay after a crash
        let rows = try await s.usageSummary(tenantId: tenant, fromMillis: 0, toMillis: .max)
        #expect(rows.reduce(0) { $0 + $1.requests } == 2)
        #expect(try await s.ledgerEntries(tenantId: tenant).count == 2, "a replay is not chained twice")
        let back = try #require(try await s.usage(requestId: id))
        #expect(back == r)
        #expect(back.costNano == 10 * 1000 + 20 * 100 + 30 * 1250 + 40 * 5000)
        try await s.close()
    }

    /// Text is bound as it is: an empty string stays empty (not NULL), other scripts and quotes survive.
    @Test(arguments: backends)
    func usageTextRoundTripsAsWritten(_ kind: String) async throws {
        let s = try await open(kind)
        try await s.migrate()
        let tenant = "ten_\(UUID().uuidString.prefix(8))"
        var r = Self.record("req_\(UUID().uuidString)", tenant: tenant)
        r.keyId = ""
        r.model = "modèle-é \"quoted\" 模型"
        r.errorType = "client_closed_request"
        r.spilledFrom = "fast"
        try await s.insertUsage([r])
        let back = try #require(try await s.usage(requestId: r.requestId))
        #expect(back == r)
        #expect(back.keyId == "" && back.spilledFrom == "fast")
        try await s.close()
    }

    @Test(arguments: backends)
    func keysAreStoredHashedAndRevokedOnesAreNotActive(_ kind: String) async throws {
        let s = try await open(kind)
        try await s.migrate()
        let tenant = "ten_\(UUID().uuidString.prefix(8))"
        try await s.upsertTenant(TenantRecord(id: tenant, name: tenant, kind: "external", createdAtMillis: 1))
        #expect(try await s.tenant(named: tenant)?.kind == "external")
        let live = APIKeyRecord(id: "key_live_\(tenant)", tenantId: tenant, hash: "h1_\(tenant)", prefix: "sk-luc-ab…", role: "tenant", name: "a", createdAtMillis: 1)
        var dead = live
        dead.id = "key_dead_\(tenant)"
        dead.hash = "h2_\(tenant)"
        dead.revokedAtMillis = 2
        var expired = live
        expired.id = "key_exp_\(tenant)"
        expired.hash = "h3_\(tenant)"
        expired.expiresAtMillis = 1_000
        let v0 = try await s.keysVersion()
        try await s.insertKey(live)
        try await s.insertKey(dead)
        try await s.insertKey(expired)
        #expect(try await s.keysVersion() > v0)  // replicas see the change
        let active = try await s.activeKeys(nowMillis: 2_000).filter { $0.tenantId == tenant }
        #expect(active.map { $0.id } == [live.id])
        // Rotation bookkeeping: scopes and limits change for the whole lineage; revocation too.
        try await s.updateLineage(live.lineageId, scopes: KeyScopes(models: ["m"]), limits: Limits(rpm: 5))
        let updated = try #require(try await s.key(id: live.id))
        #expect(updated.scopes.models == ["m"] && updated.limits.rpm == 5)
        try await s.revokeLineage(live.lineageId, atMillis: 3_000)
        #expect(try await s.activeKeys(nowMillis: 2_000).filter { $0.tenantId == tenant }.isEmpty)
        #expect(try await s.keys(tenantId: tenant).count == 3)
        let conflict = await #expect(throws: StorageError.self) {
            try await s.createTenant(TenantRecord(id: "other", name: tenant, kind: "internal", createdAtMillis: 1))
        }
        #expect(conflict?.isConflict == true)
        try await s.close()
    }
}
