import Foundation
import GRDB
import Logging
import LucairCore
import LucairGateway
import LucairLedger
import LucairWire
import Testing

@testable import LucairStorage

/// The ledger as stored, on SQLite and PostgreSQL: one entry per usage record (replays chained
/// once), signed checkpoints, proofs, and every kind of tampering caught — done with plain SQL
/// against the real database, as an attacker with database access would.
@Suite(.serialized, .timeLimit(.minutes(3))) struct LedgerStorageTests {
    struct DB {
        let storage: any Storage
        let sql: @Sendable (String) async throws -> Void
        /// A query's one integer, named `n`.
        let count: @Sendable (String) async throws -> Int64
    }

    func open(_ kind: String) async throws -> DB {
        let logger = Logger(label: "test")
        if kind == "sqlite" {
            let dir = NSTemporaryDirectory() + "lucair-ledger-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let s = try await StorageFactory.open(url: "sqlite://\(dir)/db.sqlite", logger: logger)
            try await s.migrate()
            let raw = try DatabaseQueue(path: "\(dir)/db.sqlite")
            return DB(storage: s, sql: { q in try await raw.write { try $0.execute(sql: q) } },
                      count: { q in try await raw.read { try Int64.fetchOne($0, sql: q) ?? -1 } })
        }
        let url = try #require(ProcessInfo.processInfo.environment["LUCAIR_TEST_POSTGRES_URL"], "set LUCAIR_TEST_POSTGRES_URL")
        let s = try await StorageFactory.open(url: url, logger: logger)
        try await s.migrate()
        let pg = try #require(s as? PostgresStorage)
        // Plain SQL on the storage's own connections, one statement at a time.
        return DB(storage: s, sql: { q in for statement in q.split(separator: ";") { _ = try await pg.rows(String(statement)) } },
                  count: { q in try await pg.rows(q).first.flatMap { PostgresStorage.int($0, "n") } ?? -1 })
    }

    static func record(_ id: String, tenant: String, cost: Int = 40) -> UsageRecord {
        UsageRecord(requestId: id, tenantId: tenant, keyId: "key_1", endpoint: "chat.completions", tier: "fast", model: "claude-haiku-4-5",
                    deployment: "d", stream: false, status: 200, errorType: nil, usage: TokenUsage(input: 10, cachedInput: 2, cacheWrite: 3, output: cost),
                    priceVersion: "v1", unitPrice: ModelPrice(input: 1000, cachedInput: 100, cacheWrite: 1250, output: 5000),
                    queueMicros: 1, ttftMicros: 2, totalMicros: 3, createdAtMillis: 1_795_000_000_000)
    }

    @Test(arguments: ["sqlite", "postgres"])
    func chainsCheckpointsProofsAndTampering(_ kind: String) async throws {
        let db = try await open(kind)
        let s = db.storage
        let a = "ten_a_\(UUID().uuidString.prefix(8))", b = "ten_b_\(UUID().uuidString.prefix(8))"
        let key = LedgerKey.generate()
        let ledger = LedgerService(storage: s, signingKeyHex: key, logger: Logger(label: "test"))
        // Two batches, interleaved tenants, one replayed request id.
        try await s.insertUsage((0..<6).map { Self.record("\(a)-r\($0)", tenant: $0 % 2 == 0 ? a : b, cost: 40 + $0) })
        try await s.insertUsage([Self.record("\(a)-r0", tenant: a)] + (6..<10).map { Self.record("\(a)-r\($0)", tenant: a, cost: 40 + $0) })
        #expect(try await s.ledgerEntries(tenantId: a).count == 7)
        #expect(try await s.ledgerEntries(tenantId: b).count == 3)
        let signed = try await ledger.checkpoint()
        #expect(Set(signed.filter { [a, b].contains($0.tenantId) }.map(\.size)) == [7, 3])
        #expect(try await ledger.checkpoint().filter { [a, b].contains($0.tenantId) }.isEmpty, "nothing new, nothing signed")
        #expect(try await ledger.verify(tenantId: a).breaks.isEmpty)
        #expect(try await ledger.verify(tenantId: b).breaks.isEmpty)
        // A proof checks with the public key alone; a doctored one does not.
        let proof = try await ledger.proof(tenantId: a, ref: "\(a)-r4")
        let pub = try #require(LedgerKey.publicKey(hex: ledger.publicKeyHex ?? ""))
        #expect(proof.verify(key: pub))
        var doctored = proof
        doctored.entry = Array(String(decoding: proof.entry, as: UTF8.self).replacingOccurrences(of: "\"output\":44", with: "\"output\":4").utf8)
        #expect(doctored.entry != proof.entry && !doctored.verify(key: pub))

        func brokenAt() async throws -> Int64? { try await ledger.verify(tenantId: a).breaks.first?.seq }
        let where_ = "tenant_id = '\(a)'"
        // Usage entries keep no bytes of their own: they are rebuilt from the usage row (r4 is a's third).
        let r4 = "request_id = '\(a)-r4'"
        #expect(try await db.count("SELECT count(*) AS n FROM ledger_entries WHERE \(where_) AND canonical = ''") == 7)
        // An amount changed in the usage row.
        try await db.sql("UPDATE usage_records SET cost_nano = cost_nano + 1 WHERE \(r4)")
        #expect(try await brokenAt() == 3)
        try await db.sql("UPDATE usage_records SET cost_nano = cost_nano - 1 WHERE \(r4)")
        #expect(try await brokenAt() == nil, "restored")
        // Numbers no request could have (pricing them would overflow): named, not a crash.
        try await db.sql("UPDATE usage_records SET input_tokens = 9000000000000000000 WHERE \(r4)")
        #expect(try await brokenAt() == 3)
        try await db.sql("UPDATE usage_records SET input_tokens = 10 WHERE \(r4)")
        #expect(try await brokenAt() == nil)
        // The usage row moved to another tenant.
        try await db.sql("UPDATE usage_records SET tenant_id = '\(b)' WHERE \(r4)")
        #expect(try await brokenAt() == 3)
        try await db.sql("UPDATE usage_records SET tenant_id = '\(a)' WHERE \(r4)")
        // An entry that keeps its bytes (as written before they were rebuilt) verifies beside rebuilt ones; changed, it does not.
        let bytes = String(decoding: proof.entry, as: UTF8.self)
        try await db.sql("UPDATE ledger_entries SET canonical = '\(bytes)' WHERE \(where_) AND seq = 3")
        #expect(try await brokenAt() == nil)
        try await db.sql("UPDATE ledger_entries SET canonical = replace(canonical, '\"cost_nano\":', '\"cost_nano\":1') WHERE \(where_) AND seq = 3")
        #expect(try await brokenAt() == 3)
        try await db.sql("UPDATE ledger_entries SET canonical = '' WHERE \(where_) AND seq = 3")
        #expect(try await brokenAt() == nil, "restored")
        #expect(try await ledger.proof(tenantId: a, ref: "\(a)-r4").entry == proof.entry, "a proof rebuilds the same bytes")
        // Two entries reordered (their sequence numbers swapped).
        try await db.sql("UPDATE ledger_entries SET seq = -1 WHERE \(where_) AND seq = 4; UPDATE ledger_entries SET seq = 4 WHERE \(where_) AND seq = 5; UPDATE ledger_entries SET seq = 5 WHERE \(where_) AND seq = -1")
        #expect(try await brokenAt() == 4)
        try await db.sql("UPDATE ledger_entries SET seq = -1 WHERE \(where_) AND seq = 4; UPDATE ledger_entries SET seq = 4 WHERE \(where_) AND seq = 5; UPDATE ledger_entries SET seq = 5 WHERE \(where_) AND seq = -1")
        #expect(try await brokenAt() == nil)
        // A checkpoint forged with another key.
        let forged = try Checkpoint.signed(tenantId: a, size: 7, head: [UInt8](repeating: 1, count: 32), root: [UInt8](repeating: 2, count: 32), at: 42,
                                           key: LedgerKey.privateKey(hex: LedgerKey.generate())!)
        try await s.insertCheckpoints([forged])
        #expect(try await ledger.verify(tenantId: a).breaks.first?.problem.contains("signature") == true)
        try await db.sql("DELETE FROM ledger_checkpoints WHERE \(where_) AND created_at_ms = 42")
        // The tail truncated.
        try await db.sql("DELETE FROM ledger_entries WHERE \(where_) AND seq >= 6")
        #expect(try await brokenAt() == 6)
        // An entry deleted from the middle.
        try await db.sql("DELETE FROM ledger_entries WHERE \(where_) AND seq = 2")
        #expect(try await brokenAt() == 2)
        // The other tenant's chain is untouched and still verifies.
        #expect(try await ledger.verify(tenantId: b).breaks.isEmpty)
        // A usage row deleted: its entry cannot be rebuilt (b's second is r3).
        try await db.sql("DELETE FROM usage_records WHERE request_id = '\(a)-r3'")
        let gone = try #require(try await ledger.verify(tenantId: b).breaks.first)
        #expect(gone.seq == 2 && gone.problem.contains("usage record"), "\(gone)")
        try await s.close()
    }
}
