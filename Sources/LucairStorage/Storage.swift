import Logging
import LucairCore
import LucairLedger
import LucairWire

/// A tenancy: internal teams (meters only) and outside companies (prepaid wallet) alike.
public struct TenantRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    /// `internal` (meters only) or `external` (prepaid wallet).
    public var kind: String
    public var plan: String
    /// Overrides of the plan's limits.
    public var limits: Limits
    public var createdAtMillis: Int64

    public init(id: String, name: String, kind: String, plan: String = "enterprise", limits: Limits = Limits(), createdAtMillis: Int64) {
        self.id = id
        self.name = name
        self.kind = kind
        self.plan = plan
        self.limits = limits
        self.createdAtMillis = createdAtMillis
    }
}

/// An API key as stored: never the key itself, only its SHA-256 (keys carry 256 random bits, so a
/// plain hash is as strong as a slow one) and a short prefix to recognise it by.
///
/// Rotation makes a new record with the same `lineageId` and gives the old one an expiry (the grace
/// window). Limits, windows and budgets are keyed by lineage, so rotating never resets them.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: String
    public var lineageId: String
    public var tenantId: String
    public var hash: String
    public var prefix: String
    /// `operator` (administers Lucair), `tenant_admin` (administers its tenant) or `tenant`.
    public var role: String
    public var name: String
    public var scopes: KeyScopes
    public var limits: Limits
    public var createdAtMillis: Int64
    public var expiresAtMillis: Int64?
    public var revokedAtMillis: Int64?

    public init(id: String, lineageId: String? = nil, tenantId: String, hash: String, prefix: String, role: String, name: String,
                scopes: KeyScopes = KeyScopes(), limits: Limits = Limits(), createdAtMillis: Int64,
                expiresAtMillis: Int64? = nil, revokedAtMillis: Int64? = nil) {
        self.id = id
        self.lineageId = lineageId ?? id
        self.tenantId = tenantId
        self.hash = hash
        self.prefix = prefix
        self.role = role
        self.name = name
        self.scopes = scopes
        self.limits = limits
        self.createdAtMillis = createdAtMillis
        self.expiresAtMillis = expiresAtMillis
        self.revokedAtMillis = revokedAtMillis
    }

    public func isActive(at now: Int64) -> Bool { revokedAtMillis == nil && (expiresAtMillis.map { $0 > now } ?? true) }
}

/// Usage totals of one tenant for a period, by key, tier and model.
public struct UsageSummaryRow: Sendable, Equatable {
    public var keyId: String
    public var tier: String
    public var model: String
    public var requests: Int64
    public var inputTokens: Int64
    public var cachedInputTokens: Int64
    public var cacheWriteTokens: Int64
    public var outputTokens: Int64
    public var costNano: NanoUSD

    public init(keyId: String, tier: String, model: String, requests: Int64, inputTokens: Int64, cachedInputTokens: Int64,
                cacheWriteTokens: Int64, outputTokens: Int64, costNano: NanoUSD) {
        self.keyId = keyId
        self.tier = tier
        self.model = model
        self.requests = requests
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.outputTokens = outputTokens
        self.costNano = costNano
    }
}

/// Everything Lucair keeps, behind one interface with two implementations: SQLite (embedded,
/// single replica) and PostgreSQL (replicas share state). None of it is called on the request path
/// except through the batched usage writer.
///
/// Every change to tenants or keys bumps a version counter in the same transaction; replicas poll
/// `keysVersion()` and reload when it moves (that is how a revocation reaches every replica).
public protocol Storage: Sendable {
    /// Applies pending migrations (idempotent; safe when several replicas start at once).
    func migrate() async throws
    /// Versions applied, for tests and `/health`.
    func appliedMigrations() async throws -> [Int]
    /// Inserts a tenant; throws `StorageError.conflict` when the name is taken.
    func createTenant(_ t: TenantRecord) async throws
    /// Inserts or updates (bootstrap only).
    func upsertTenant(_ t: TenantRecord) async throws
    func updateTenant(id: String, plan: String?, limits: Limits?) async throws
    func tenant(id: String) async throws -> TenantRecord?
    func tenant(named: String) async throws -> TenantRecord?
    func tenants() async throws -> [TenantRecord]
    func insertKey(_ k: APIKeyRecord) async throws
    func key(id: String) async throws -> APIKeyRecord?
    /// Every key of a tenant, revoked and expired ones included.
    func keys(tenantId: String) async throws -> [APIKeyRecord]
    /// Keys that authenticate now: not revoked, not expired.
    func activeKeys(nowMillis: Int64) async throws -> [APIKeyRecord]
    /// Revokes every key of a lineage (the key and its rotations).
    func revokeLineage(_ lineageId: String, atMillis: Int64) async throws
    /// Changes the scopes and/or limits of every key of a lineage.
    func updateLineage(_ lineageId: String, scopes: KeyScopes?, limits: Limits?) async throws
    /// Sets a key's expiry (the old key's grace window after a rotation).
    func expireKey(id: String, atMillis: Int64) async throws
    func keysVersion() async throws -> Int64
    /// Inserts records; a request id already stored is skipped (idempotent by request id).
    /// Stores usage records (idempotent by request id) and, in the same transaction, chains one
    /// ledger entry per newly stored record onto its tenant's chain.
    func insertUsage(_ records: [UsageRecord]) async throws
    func usage(requestId: String) async throws -> UsageRecord?
    func usageCount() async throws -> Int
    func usageSummary(tenantId: String, fromMillis: Int64, toMillis: Int64) async throws -> [UsageSummaryRow]
    /// Cost per (tenant, key lineage) since a time: seeds the spend-cap windows at start-up.
    func spend(sinceMillis: Int64) async throws -> [(tenantId: String, keyId: String, costNano: NanoUSD)]
    func close() async throws

    // The ledger (read side; appends happen in `insertUsage`).
    func ledgerTenants() async throws -> [String]
    /// A tenant's entries in sequence order, as stored (hashes are recomputed by the verifier;
    /// usage entries' bytes are rebuilt from their usage rows, `LedgerRows`).
    func ledgerEntries(tenantId: String) async throws -> [LedgerVerifier.Stored]
    /// A tenant's stored entry hashes (hex) in sequence order: a proof's Merkle leaves, without
    /// rebuilding every entry.
    func ledgerHashes(tenantId: String) async throws -> [String]
    func ledgerEntry(tenantId: String, kind: String, ref: String) async throws -> LedgerVerifier.Stored?
    func ledgerHeads() async throws -> [String: LedgerHead]
    func insertCheckpoints(_ c: [Checkpoint]) async throws
    func checkpoints(tenantId: String) async throws -> [Checkpoint]

    // Wallets (balanced transfers between accounts; usage debits are written by `insertUsage`).
    /// Each tenant's wallet balance from its transfers.
    func walletBalances() async throws -> [String: NanoUSD]
    /// Records a top-up, refund or dispute: its transfer, its ledger entry and (when it has one) its
    /// provider event, in one transaction. Returns false, changing nothing, when that event or that
    /// (kind, ref) was already recorded.
    func move(_ m: WalletMove) async throws -> Bool
    /// Transfers other than usage since a time, oldest first (reconciliation).
    func walletTransfers(sinceMillis: Int64) async throws -> [WalletTransferRow]

    // Billing.
    func billingAccounts() async throws -> [BillingAccount]
    func putBillingAccount(_ a: BillingAccount) async throws
    /// Inserts a pending recharge unless one is already in flight for the tenant or it would take
    /// the month past `monthlyCapCents`; returns whether it was inserted.
    func startRecharge(_ r: Recharge, monthlyCapCents: Int64) async throws -> Bool
    /// Ends a pending recharge (a finished one is left as it is).
    func finishRecharge(id: String, status: Recharge.Status, paymentIntent: String?, error: String?) async throws
    func recharges(tenantId: String) async throws -> [Recharge]
    /// Claims an Idempotency-Key for a request whose body hashes to `requestHash`.
    func claimIdempotency(scope: String, key: String, requestHash: String, atMillis: Int64) async throws -> IdempotencyClaim
    /// Stores the answer replayed for the key.
    func finishIdempotency(scope: String, key: String, status: Int, body: String) async throws
    /// Releases a claim whose request failed before it had an answer, so it can be retried.
    func dropIdempotency(scope: String, key: String) async throws
}

extension Storage {
    /// An operator's (or a test's) credit: a `topup` move without a provider event.
    public func topUp(tenantId: String, amountNano: NanoUSD, source: String, ref: String, atMillis: Int64) async throws -> Bool {
        try await move(WalletMove(tenantId: tenantId, kind: .topup, amountNano: amountNano, source: source, ref: ref, atMillis: atMillis))
    }
}

/// A transfer of a usage debit: the wallet pays revenue, keyed by the request id.
enum WalletTransfer {
    static func usage(_ r: UsageRecord) -> (id: String, tenant: String, kind: String, debit: String, credit: String, amount: NanoUSD, ref: String, at: Int64)? {
        guard let amount = r.walletCharge, amount > 0 else { return nil }
        return ("tr_" + r.requestId, r.tenantId, "usage", "wallet:" + r.tenantId, "revenue", amount, r.requestId, r.createdAtMillis)
    }

    /// A transfer's id follows from its kind and reference, which are unique together.
    static func topUpId(_ ref: String) -> String { "tr_topup_" + ref }

}

/// Chains usage records onto their tenants' heads: the part of `insertUsage` both databases share.
enum LedgerAppend {
    static func entries(for records: [UsageRecord], heads: inout [String: LedgerHead]) -> [(LedgerEntry, Int64)] {
        records.map { r in
            (heads[r.tenantId, default: LedgerHead()].append(usage: r), r.createdAtMillis)
        }
    }
}

/// Limits shared by every replica (PostgreSQL). A replica takes quota in blocks (`grant`) and
/// spends it without a round trip; its settlements go back in batches (`settle`), off the request
/// path.
public protocol SharedLimits: Sendable {
    /// Checks every limit of the given scopes atomically across replicas and grants each scope at
    /// least its `need` (else refuses, granting nothing) and at most its `want` of the minute
    /// window's requests and tokens, plus a concurrency slot (a lease row) where asked; returns the
    /// scopes' spend so far. A nil limit is unlimited.
    func grant(_ r: SharedGrantRequest) async throws -> SharedGrant
    /// Ends a batch of requests in one call: drops leases, adds cost to the spend windows of the
    /// capped scopes.
    func settle(_ batch: SharedSettleBatch) async throws
    /// Deletes the windows before `window - 2` and the leases expired by `nowMillis`.
    func prune(window: Int64, nowMillis: Int64) async throws
}

/// Settlements gathered over a few milliseconds (one call instead of one per request). Rows are
/// sorted, so that concurrent batches and admissions lock rows in one order and never deadlock.
public struct SharedSettleBatch: Sendable {
    public struct PeriodKey: Hashable, Comparable, Sendable {
        public var scope: String
        public var period: String
        public init(scope: String, period: String) { self.scope = scope; self.period = period }
        public static func < (a: Self, b: Self) -> Bool { (a.scope, a.period) < (b.scope, b.period) }
    }

    public struct WindowKey: Hashable, Sendable {
        public var scope: String
        public var window: Int64
        public init(scope: String, window: Int64) { self.scope = scope; self.window = window }
    }

    public var leases: [(scope: String, lease: String)] = []
    public var spend: [PeriodKey: NanoUSD] = [:]
    /// Requests a replica admitted on its own count while the store did not answer, told to the
    /// store once it does, so the rest of the minute is counted against them everywhere.
    public var requests: [WindowKey: Int] = [:]

    public init() {}

    public var isEmpty: Bool { leases.isEmpty && spend.isEmpty && requests.isEmpty }
}

/// One call to the shared store for the scopes a replica cannot serve from its own blocks.
public struct SharedGrantRequest: Sendable {
    public struct Scope: Sendable {
        public var scope: String
        public var limits: Limits
        /// Requests and tokens this request cannot do without, and how many to take for later ones.
        public var needRequests = 0, wantRequests = 0, needTokens = 0, wantTokens = 0
        /// Take a concurrency slot (a lease row named `lease`).
        public var slot = false
        public init(scope: String, limits: Limits) { self.scope = scope; self.limits = limits }
    }
    public var scopes: [Scope]
    public var window: Int64
    public var day: String
    public var month: String
    public var lease: String
    public var nowMillis: Int64
    public var leaseMillis: Int64
    /// Idle slots of these scopes given back first, in the same call.
    public var releases: [(scope: String, lease: String)] = []

    public init(scopes: [Scope], window: Int64, day: String, month: String, lease: String, nowMillis: Int64, leaseMillis: Int64) {
        self.scopes = scopes
        self.window = window
        self.day = day
        self.month = month
        self.lease = lease
        self.nowMillis = nowMillis
        self.leaseMillis = leaseMillis
    }
}

public enum SharedGrant: Sendable, Equatable {
    public struct Share: Sendable, Equatable {
        public var requests: Int
        public var tokens: Int
        public var spentToday: NanoUSD
        public var spentThisMonth: NanoUSD
        public init(requests: Int, tokens: Int, spentToday: NanoUSD, spentThisMonth: NanoUSD) {
            self.requests = requests
            self.tokens = tokens
            self.spentToday = spentToday
            self.spentThisMonth = spentThisMonth
        }
    }
    /// One share per scope, in the request's order.
    case granted([Share])
    case refused(SharedRefusal)
}

public struct SharedRefusal: Sendable, Equatable {
    public enum Kind: Int, Sendable { case rate = 0, concurrency = 1, spend = 2 }
    public var kind: Kind
    public var scopeIndex: Int
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
    public var isConflict = false
    public init(_ d: String) { description = d }
    public static func conflict(_ d: String) -> StorageError {
        var e = StorageError(d)
        e.isConflict = true
        return e
    }
}
