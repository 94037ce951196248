import Logging
import LucairCore
import LucairStorage
import Synchronization

/// Prepaid wallets of external tenants, in memory: the balance settled in storage, minus what
/// in-flight requests hold. A request holds its worst-case cost before it is forwarded and fails
/// closed (402 `insufficient_quota`) when the wallet cannot cover it; at the end the hold becomes
/// the actual cost (never more than the wallet holds) and the rest is released. Holds live only
/// here: a crash releases them all, and the balance is rebuilt from the transfers at start.
///
/// One process owns the wallets (SQLite, or one replica): replicas on PostgreSQL would each hold
/// against their own view of the balance (docs/wallets.md).
public final class Wallets: Sendable {
    struct State {
        var balance: NanoUSD = 0
        var held: NanoUSD = 0
        var holds = 0
    }

    public struct Hold: Sendable {
        public let tenantId: String
        public let amount: NanoUSD
    }

    let state = Mutex<[String: State]>([:])
    /// In-flight holds a wallet may carry at once.
    public let maxHolds: Int
    let logger: Logger

    public init(maxHolds: Int = 256, logger: Logger) {
        self.maxHolds = maxHolds
        self.logger = logger
    }

    public func load(balances: [String: NanoUSD]) {
        state.withLock { s in for (t, b) in balances { s[t, default: State()].balance = b } }
    }

    public func balance(_ tenantId: String) -> (balance: NanoUSD, held: NanoUSD) {
        state.withLock { s in (s[tenantId]?.balance ?? 0, s[tenantId]?.held ?? 0) }
    }

    /// Called with the tenant after each debit (auto-recharge watches balances this way).
    let debitWatcher = Mutex<(@Sendable (String) -> Void)?>(nil)

    public func onDebit(_ f: @escaping @Sendable (String) -> Void) { debitWatcher.withLock { $0 = f } }

    /// Adds `amount` (negative for a refund or a dispute: the balance may go below zero, and then
    /// every request fails closed until it is paid back).
    public func credit(_ tenantId: String, _ amount: NanoUSD) {
        state.withLock { $0[tenantId, default: State()].balance += amount }
    }

    public func reserve(_ tenantId: String, _ amount: NanoUSD) throws -> Hold {
        try state.withLock { s in
            var w = s[tenantId] ?? State()
            guard w.holds < maxHolds else {
                throw GatewayError(status: 429, type: "requests", code: "too_many_holds",
                                   message: "This wallet already has \(maxHolds) requests in flight; wait for some to finish.", origin: .client)
            }
            guard w.balance - w.held >= amount else {
                throw GatewayError(status: 402, type: "insufficient_quota", code: "insufficient_quota",
                                   message: "Your wallet cannot cover this request (it needs up to \(Money.usdString(amount)) USD; available \(Money.usdString(max(0, w.balance - w.held))) USD). Top up your wallet, or lower max_tokens.", origin: .client)
            }
            w.held += amount
            w.holds += 1
            s[tenantId] = w
            return Hold(tenantId: tenantId, amount: amount)
        }
    }

    /// Ends a hold: charges `cost`, at most what the wallet has, and releases the rest. Returns
    /// the charge (what the wallet transfer records).
    public func settle(_ h: Hold, cost: NanoUSD) -> NanoUSD {
        let charge = state.withLock { s in
            var w = s[h.tenantId] ?? State()
            w.held -= h.amount
            w.holds -= 1
            let charge = max(0, min(cost, w.balance))
            w.balance -= charge
            s[h.tenantId] = w
            return charge
        }
        if charge > 0, let watch = debitWatcher.withLock({ $0 }) { watch(h.tenantId) }
        if charge < cost {
            logger.error("request cost more than its hold and the wallet could pay; the difference is written off", metadata: ["tenant": "\(h.tenantId)", "cost_nano": "\(cost)", "charged_nano": "\(charge)"])
        }
        return charge
    }
}
