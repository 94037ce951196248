import Foundation
import Logging
import LucairCore
import LucairGateway
import LucairLedger
import LucairStorage
import LucairWire

/// Ledger throughput (docs/benchmarks.md): usage records appended with their chained entries in
/// group-commit batches, as the usage writer does, on SQLite and PostgreSQL; then verification of
/// everything appended. Usage: lucair-microbench ledger [ENTRIES]
enum LedgerBench {
    static let run = UUID().uuidString.prefix(8)

    static func record(_ i: Int, tenants: Int) -> UsageRecord {
        UsageRecord(requestId: APIKeys.timeOrderedId("req"), tenantId: "ten_bench_\(run)_\(i % tenants)", keyId: "key_\(i % 97)", endpoint: "chat.completions",
                    tier: "baseline", model: "ministral-8b", deployment: "local", stream: i % 2 == 0, status: 200, errorType: nil,
                    usage: TokenUsage(input: 200 + i % 50, cachedInput: 0, cacheWrite: 0, output: 100 + i % 30),
                    priceVersion: "2026-11-01", unitPrice: ModelPrice(input: 200, cachedInput: 20, cacheWrite: 250, output: 1000),
                    queueMicros: 0, ttftMicros: 1000, totalMicros: 5000, createdAtMillis: 1_795_000_000_000 + Int64(i))
    }

    static func run(entries: Int) async throws {
        let logger = Logger(label: "bench")
        // The chaining alone (canonical encoding, SHA-256, Merkle frontier), no storage.
        let sample = (0..<entries).map { record($0, tenants: 50) }
        var heads: [String: LedgerHead] = [:]
        let c0 = ContinuousClock.now
        for r in sample { _ = heads[r.tenantId, default: LedgerHead()].append(usage: r) }
        print("chaining only: \(Int(Double(entries) / ((ContinuousClock.now - c0) / .seconds(1)))) entries/s\n")
        var targets = [("SQLite (WAL)", "sqlite://" + NSTemporaryDirectory() + "lucair-ledger-bench-\(UUID().uuidString)/db.sqlite")]
        if let url = ProcessInfo.processInfo.environment["LUCAIR_BENCH_POSTGRES_URL"], !url.isEmpty { targets.append(("PostgreSQL (loopback)", url)) }
        print("| storage | entries | fixed batch | appends/s, fixed batches | appends/s, through the usage writer under overload | verify (entries/s, read + recompute) | recompute only (entries/s) |\n|---|---|---|---|---|---|---|")
        for (name, url) in targets {
            let storage = try await StorageFactory.open(url: url, logger: logger)
            try await storage.migrate()
            let batch = Int(ProcessInfo.processInfo.environment["LUCAIR_BENCH_BATCH"] ?? "") ?? 1000, tenants = 50
            let records = (0..<entries).map { record($0, tenants: tenants) }
            let start = ContinuousClock.now
            var i = 0
            while i < records.count {
                try await storage.insertUsage(Array(records[i..<min(records.count, i + batch)]))
                i += batch
            }
            let appendSecs = (ContinuousClock.now - start) / .seconds(1)
            // The same volume through the usage writer, offered faster than it can store: group
            // commit grows the batches (up to UsageWriter.maxBatch) until it keeps up.
            let writer = UsageWriter(storage: storage, logger: logger)
            let more = (0..<entries).map { record($0, tenants: tenants) }
            let w0 = ContinuousClock.now
            let running = Task { try await writer.run() }
            for r in more { writer.record(r) }
            await writer.flush()
            let writerSecs = (ContinuousClock.now - w0) / .seconds(1)
            running.cancel()
            // Verify every bench tenant: read from storage and recompute, then recompute alone.
            let ledger = LedgerService(storage: storage, signingKeyHex: LedgerKey.generate(), logger: logger)
            try await ledger.checkpoint()
            let ids = try await storage.ledgerTenants().filter { $0.hasPrefix("ten_bench_\(run)_") }
            let v0 = ContinuousClock.now
            let report = try await ledger.verify(tenants: ids)  // what `lucair ledger verify` does
            let all = (ContinuousClock.now - v0) / .seconds(1)
            precondition(report.breaks.isEmpty && report.entries >= entries, "the bench ledger must verify")
            var loaded: [(String, [LedgerVerifier.Stored], [Checkpoint])] = []
            for t in ids { loaded.append((t, try await storage.ledgerEntries(tenantId: t), try await storage.checkpoints(tenantId: t))) }
            let r0 = ContinuousClock.now
            let total = loaded.reduce(0) { $0 + $1.1.count }
            // Chains are independent: one task per chain, as `lucair ledger verify` could.
            let breaks = await withTaskGroup(of: Int.self) { g in
                for (t, es, cps) in loaded { g.addTask { LedgerVerifier.verify(tenantId: t, entries: es, checkpoints: cps, publicKey: ledger.key?.publicKey) == nil ? 0 : 1 } }
                return await g.reduce(0, +)
            }
            let end = ContinuousClock.now
            precondition(breaks == 0, "the bench ledger must verify")
            let recompute = (end - r0) / .seconds(1)
            print("| \(name) | \(entries) | \(batch) | \(Int(Double(entries) / appendSecs)) | \(Int(Double(entries) / writerSecs)) | \(Int(Double(report.entries) / all)) | \(Int(Double(total) / recompute)) |")
            try await storage.close()
        }
    }
}
