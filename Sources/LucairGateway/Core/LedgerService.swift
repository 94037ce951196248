import Crypto
import Foundation
import Logging
import LucairCore
import LucairLedger
import LucairStorage
import ServiceLifecycle

/// The ledger's operations over storage: sign checkpoints of every chain that moved, verify
/// chains, build inclusion proofs. Entries themselves are appended by the usage writer's
/// transaction (`Storage.insertUsage`). As a service, it signs checkpoints at a fixed interval.
public struct LedgerService: Service, Sendable {
    public let storage: any Storage
    public let key: Curve25519.Signing.PrivateKey?
    public let interval: Duration
    let logger: Logger

    public init(storage: any Storage, signingKeyHex: String?, intervalSeconds: Int = 60, logger: Logger) {
        self.storage = storage
        key = signingKeyHex.flatMap(LedgerKey.privateKey(hex:))
        interval = .seconds(intervalSeconds)
        self.logger = logger
    }

    public var publicKeyHex: String? { key.map { Hex.encode($0.publicKey.rawRepresentation) } }

    /// Signs a checkpoint for every tenant whose chain grew since its last checkpoint.
    @discardableResult
    public func checkpoint(nowMillis: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) async throws -> [Checkpoint] {
        guard let key else { return [] }
        var out: [Checkpoint] = []
        for (tenant, head) in try await storage.ledgerHeads().sorted(by: { $0.key < $1.key }) where head.seq > 0 {
            let last = try await storage.checkpoints(tenantId: tenant).last
            if let last, last.size == head.seq { continue }
            out.append(try Checkpoint.signed(tenantId: tenant, size: head.seq, head: head.hash, root: head.frontier.root, at: nowMillis, key: key))
        }
        try await storage.insertCheckpoints(out)
        return out
    }

    public struct Report: Sendable {
        public var tenants = 0
        public var entries = 0
        public var checkpoints = 0
        public var breaks: [LedgerVerifier.Break] = []
    }

    /// Recomputes every chain (or one tenant's) and checks it against its checkpoints; checkpoints
    /// are trusted only when signed by `publicKey` (default: this service's own key).
    public func verify(tenantId: String? = nil, publicKey: Curve25519.Signing.PublicKey? = nil) async throws -> Report {
        let tenants = if let tenantId { [tenantId] } else { try await storage.ledgerTenants() }
        return try await verify(tenants: tenants, publicKey: publicKey)
    }

    public func verify(tenants: [String], publicKey: Curve25519.Signing.PublicKey? = nil) async throws -> Report {
        var report = Report()
        let trusted = publicKey ?? key?.publicKey
        // Chains are independent: each is read and recomputed on its own task, a few at once (reading
        // is most of the work, usage entries being rebuilt from their rows), so memory stays bounded
        // by a few chains.
        let lanes = max(2, ProcessInfo.processInfo.activeProcessorCount)
        try await withThrowingTaskGroup(of: (entries: Int, checkpoints: Int, broken: LedgerVerifier.Break?).self) { group in
            func collect(_ r: (entries: Int, checkpoints: Int, broken: LedgerVerifier.Break?)) {
                report.tenants += 1
                report.entries += r.entries
                report.checkpoints += r.checkpoints
                if let b = r.broken { report.breaks.append(b) }
            }
            for (i, t) in tenants.enumerated() {
                if i >= lanes, let r = try await group.next() { collect(r) }
                group.addTask { [storage] in
                    let entries = try await storage.ledgerEntries(tenantId: t)
                    let cps = try await storage.checkpoints(tenantId: t)
                    return (entries.count, cps.count, LedgerVerifier.verify(tenantId: t, entries: entries, checkpoints: cps, publicKey: trusted))
                }
            }
            for try await r in group { collect(r) }
        }
        report.breaks.sort { $0.tenantId < $1.tenantId }
        return report
    }

    public enum ProofError: Error, CustomStringConvertible {
        case noEntry(String), noCheckpoint(String), noUsageRecord(String)
        public var description: String {
            switch self {
            case .noEntry(let r): "no ledger entry for request \(r) in this tenant"
            case .noUsageRecord(let r): "the ledger entry of request \(r) cannot be rebuilt: its usage record is missing (run `lucair ledger verify`)"
            case .noCheckpoint(let r): "no signed checkpoint covers request \(r) yet; run `lucair ledger checkpoint` (or wait for the next one)"
            }
        }
    }

    /// The proof that request `ref`'s entry is in the tenant's latest checkpoint.
    public func proof(tenantId: String, ref: String, kind: String = "usage") async throws -> InclusionProof {
        guard let e = try await storage.ledgerEntry(tenantId: tenantId, kind: kind, ref: ref) else { throw ProofError.noEntry(ref) }
        guard !e.canonical.isEmpty else { throw ProofError.noUsageRecord(ref) }
        guard let cp = try await storage.checkpoints(tenantId: tenantId).last(where: { $0.size >= e.seq }) else { throw ProofError.noCheckpoint(ref) }
        let leaves = try await storage.ledgerHashes(tenantId: tenantId).prefix(Int(cp.size)).map { Merkle.leaf(Hex.decode($0) ?? []) }
        return InclusionProof(entry: e.canonical, index: e.seq - 1, path: Merkle.auditPath(Int(e.seq - 1), leaves[...]), checkpoint: cp)
    }

    /// Signs checkpoints every interval until shutdown, and once more on the way out. (A service
    /// that returned early would stop the whole application, so without a key it just waits.)
    public func run() async throws {
        guard key != nil else {
            logger.warning("no ledger signing key ([ledger] signing_key / LUCAIR_LEDGER_KEY): ledger entries are chained but no checkpoints are signed")
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
            do { try await checkpoint() } catch { logger.error("ledger checkpoint failed", metadata: ["error": "\(error)"]) }
        }
        // The last checkpoint covers the usage writer's final drain (it stops before this service).
        if Task.isShuttingDownGracefully && !Task.isCancelled {
            do { try await checkpoint() } catch { logger.error("final ledger checkpoint failed", metadata: ["error": "\(error)"]) }
        }
    }
}
