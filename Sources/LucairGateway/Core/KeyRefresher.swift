import Foundation
import Logging
import LucairCore
import LucairStorage
import ServiceLifecycle
import Synchronization

/// Keeps this replica's `KeyRing` in step with storage: polls the keys version every
/// `keyRefreshMs` (250 ms by default) and reloads keys and tenants when it moved. A revocation made
/// through any replica or the CLI is therefore honoured everywhere within about that interval.
/// If storage is unreachable the last loaded keys stay in force (authentication fails open to the
/// last known state, never to "anyone"), and the failure is logged and shown in `/health`.
public final class KeyRefresher: Service, Sendable {
    let storage: any Storage
    let ring: KeyRing
    let plans: [String: Plan]
    let interval: Duration
    let logger: Logger
    let state = Mutex<(version: Int64, lastError: String?)>((-1, nil))

    public init(storage: any Storage, ring: KeyRing, plans: [String: Plan], intervalMs: Int, logger: Logger) {
        self.storage = storage
        self.ring = ring
        self.plans = plans
        interval = .milliseconds(intervalMs)
        self.logger = logger
    }

    public var lastError: String? { state.withLock { $0.lastError } }

    /// Reloads unconditionally (start-up, and after this replica changed something).
    ///
    /// A poll and a reload after a revocation may overlap: whichever read the older version must
    /// not load last, or the revoked key would work again on this replica until the next poll. The
    /// version is read before the keys (a change and its version bump commit together), so keys
    /// read under a version are at least that recent.
    public func reload() async throws {
        let version = try await storage.keysVersion()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let keys = try await storage.activeKeys(nowMillis: now), tenants = try await storage.tenants()
        state.withLock { s in
            guard version >= s.version else { return }
            ring.load(keys: keys, tenants: tenants, plans: plans)
            s = (version, nil)
        }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: interval)
            do {
                let v = try await storage.keysVersion()
                if v != state.withLock({ $0.version }) { try await reload() }
            } catch {
                let message = "\(error)"
                if state.withLock({ $0.lastError }) == nil {
                    logger.error("cannot refresh API keys from storage; the last loaded keys stay in force", metadata: ["error": "\(message)"])
                }
                state.withLock { $0.lastError = message }
            }
        }
    }
}
