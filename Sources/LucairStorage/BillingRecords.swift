import LucairCore
import LucairWire

/// Money into or out of a wallet other than usage: top-ups, refunds, disputes. Each is one balanced
/// transfer plus one ledger entry, recorded once: by its (kind, ref), and by the provider event
/// that reported it when there is one.
public struct WalletMove: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case topup, refund, dispute
        /// A dispute decided in our favour: the held amount returns to the wallet.
        case disputeReleased = "dispute_released"
    }
    public var tenantId: String
    public var kind: Kind
    /// Always positive; the kind says which way it moves.
    public var amountNano: NanoUSD
    /// Who moved it: `manual` (an operator), `stripe`.
    public var source: String
    /// The payment, refund or dispute id: unique per kind.
    public var ref: String
    /// The provider's event id (Stripe `evt_…`), processed at most once.
    public var eventId: String?
    public var atMillis: Int64

    public init(tenantId: String, kind: Kind, amountNano: NanoUSD, source: String, ref: String, eventId: String? = nil, atMillis: Int64) {
        self.tenantId = tenantId; self.kind = kind; self.amountNano = amountNano; self.source = source
        self.ref = ref; self.eventId = eventId; self.atMillis = atMillis
    }

    /// The wallet's change: positive for money in.
    public var walletDelta: NanoUSD { kind == .topup || kind == .disputeReleased ? amountNano : -amountNano }

    /// The other side of the books: where money in came from, or where money out went.
    var counterAccount: String {
        switch kind {
        case .topup: "topup:" + source
        case .refund: "refund:" + source
        case .dispute, .disputeReleased: "dispute:" + source
        }
    }

    var debit: String { walletDelta > 0 ? counterAccount : "wallet:" + tenantId }
    var credit: String { walletDelta > 0 ? "wallet:" + tenantId : counterAccount }
    var transferId: String { kind == .topup ? WalletTransfer.topUpId(ref) : "tr_\(kind.rawValue)_" + ref }
    var ledgerBody: JSONValue {
        let wallet: JSONValue = "wallet"
        return ["at": .int(atMillis), "amount_nano": .int(amountNano),
                "debit": walletDelta > 0 ? .string(counterAccount) : wallet, "credit": walletDelta > 0 ? wallet : .string(counterAccount)]
    }
    var transferValues: [Schema.Value] {
        [.text(transferId), .text(tenantId), .text(kind.rawValue), .text(debit), .text(credit), .int(amountNano), .text(ref), .int(atMillis)]
    }
}

/// A stored wallet transfer (reconciliation reads them back).
public struct WalletTransferRow: Sendable, Equatable {
    public var tenantId: String
    public var kind: String
    public var debit: String
    public var credit: String
    public var amountNano: NanoUSD
    public var ref: String
    public var createdAtMillis: Int64

    public init(tenantId: String, kind: String, debit: String, credit: String, amountNano: NanoUSD, ref: String, createdAtMillis: Int64) {
        self.tenantId = tenantId; self.kind = kind; self.debit = debit; self.credit = credit
        self.amountNano = amountNano; self.ref = ref; self.createdAtMillis = createdAtMillis
    }
}

/// A tenant's link to the payment provider and its auto-recharge settings.
public struct BillingAccount: Sendable, Equatable {
    public var tenantId: String
    public var customerId: String
    /// The saved card charged off-session by auto-recharge.
    public var paymentMethod: String?
    /// Auto-recharge runs when the wallet falls below this; nil: off.
    public var rechargeThresholdNano: NanoUSD?
    public var rechargeAmountCents: Int64
    public var rechargeMonthlyCapCents: Int64
    /// Set by a decline or a card that needs the customer: auto-recharge stays off until they act.
    public var pausedReason: String?
    public var updatedAtMillis: Int64

    public init(tenantId: String, customerId: String, paymentMethod: String? = nil, rechargeThresholdNano: NanoUSD? = nil,
                rechargeAmountCents: Int64 = 0, rechargeMonthlyCapCents: Int64 = 0, pausedReason: String? = nil, updatedAtMillis: Int64) {
        self.tenantId = tenantId; self.customerId = customerId; self.paymentMethod = paymentMethod
        self.rechargeThresholdNano = rechargeThresholdNano; self.rechargeAmountCents = rechargeAmountCents
        self.rechargeMonthlyCapCents = rechargeMonthlyCapCents; self.pausedReason = pausedReason; self.updatedAtMillis = updatedAtMillis
    }

    var values: [Schema.Value] {
        [.text(tenantId), .text(customerId), paymentMethod.map { .text($0) } ?? .null, rechargeThresholdNano.map { .int($0) } ?? .null,
         .int(rechargeAmountCents), .int(rechargeMonthlyCapCents), pausedReason.map { .text($0) } ?? .null, .int(updatedAtMillis)]
    }

    static func read(text: (String) -> String?, int: (String) -> Int64?) -> BillingAccount {
        BillingAccount(tenantId: text("tenant_id") ?? "", customerId: text("customer_id") ?? "", paymentMethod: text("payment_method"),
                       rechargeThresholdNano: int("recharge_threshold_nano"), rechargeAmountCents: int("recharge_amount_cents") ?? 0,
                       rechargeMonthlyCapCents: int("recharge_monthly_cap_cents") ?? 0, pausedReason: text("paused_reason"),
                       updatedAtMillis: int("updated_at_ms") ?? 0)
    }
}

/// One auto-recharge attempt: our record first, then the payment it asks for (its id derives the
/// provider's Idempotency-Key, so a retried call never charges twice).
public struct Recharge: Sendable, Equatable {
    public enum Status: String, Sendable { case pending, succeeded, failed }
    public var id: String
    public var tenantId: String
    public var amountCents: Int64
    public var status: Status
    public var paymentIntent: String?
    public var error: String?
    /// `YYYY-MM` (UTC): the monthly cap counts recharges per month.
    public var month: String
    public var createdAtMillis: Int64

    public init(id: String, tenantId: String, amountCents: Int64, status: Status = .pending, paymentIntent: String? = nil, error: String? = nil, month: String, createdAtMillis: Int64) {
        self.id = id; self.tenantId = tenantId; self.amountCents = amountCents; self.status = status
        self.paymentIntent = paymentIntent; self.error = error; self.month = month; self.createdAtMillis = createdAtMillis
    }

    static func read(text: (String) -> String?, int: (String) -> Int64?) -> Recharge {
        Recharge(id: text("id") ?? "", tenantId: text("tenant_id") ?? "", amountCents: int("amount_cents") ?? 0,
                 status: Status(rawValue: text("status") ?? "") ?? .failed, paymentIntent: text("payment_intent"), error: text("error"),
                 month: text("month") ?? "", createdAtMillis: int("created_at_ms") ?? 0)
    }
}

/// What a request carrying an Idempotency-Key finds (Stripe's semantics).
public enum IdempotencyClaim: Sendable, Equatable {
    /// First use: do the work, then `finishIdempotency`.
    case claimed
    /// Seen with the same body: answer exactly this again.
    case replay(status: Int, body: String)
    /// Seen with a different body: refuse.
    case mismatch
    /// The first request with this key has not finished.
    case inProgress
}

/// SQL both databases run (written with `?`; PostgreSQL numbers the placeholders).
enum BillingSQL {
    static func migration(bigint: String) -> [String] {
        [
            "CREATE TABLE processed_events (source TEXT NOT NULL, event_id TEXT NOT NULL, received_at_ms \(bigint) NOT NULL, PRIMARY KEY (source, event_id))",
            "CREATE TABLE billing_accounts (tenant_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL UNIQUE, payment_method TEXT, recharge_threshold_nano \(bigint), recharge_amount_cents \(bigint) NOT NULL, recharge_monthly_cap_cents \(bigint) NOT NULL, paused_reason TEXT, updated_at_ms \(bigint) NOT NULL)",
            "CREATE TABLE recharges (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, amount_cents \(bigint) NOT NULL, status TEXT NOT NULL, payment_intent TEXT, error TEXT, month TEXT NOT NULL, created_at_ms \(bigint) NOT NULL)",
            // At most one recharge in flight per wallet, whatever the replicas do.
            "CREATE UNIQUE INDEX recharges_one_pending ON recharges (tenant_id) WHERE status = 'pending'",
            "CREATE TABLE idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status INTEGER, body TEXT, created_at_ms \(bigint) NOT NULL, PRIMARY KEY (scope, key))",
            "CREATE INDEX wallet_transfers_created ON wallet_transfers (created_at_ms)",
        ]
    }

    static let accountColumns = "tenant_id, customer_id, payment_method, recharge_threshold_nano, recharge_amount_cents, recharge_monthly_cap_cents, paused_reason, updated_at_ms"
    static let putAccount = """
        INSERT INTO billing_accounts (\(accountColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (tenant_id) DO UPDATE SET customer_id = excluded.customer_id, payment_method = excluded.payment_method,
          recharge_threshold_nano = excluded.recharge_threshold_nano, recharge_amount_cents = excluded.recharge_amount_cents,
          recharge_monthly_cap_cents = excluded.recharge_monthly_cap_cents, paused_reason = excluded.paused_reason, updated_at_ms = excluded.updated_at_ms
        """
    static let insertEvent = "INSERT INTO processed_events (source, event_id, received_at_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    static let rechargeColumns = "id, tenant_id, amount_cents, status, payment_intent, error, month, created_at_ms"
    /// Spent or in flight this month: what the cap counts.
    static let rechargedThisMonth = "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) AS total FROM recharges WHERE tenant_id = ? AND month = ? AND status <> 'failed'"
    static let insertRecharge = "INSERT INTO recharges (\(rechargeColumns)) VALUES (?, ?, ?, 'pending', NULL, NULL, ?, ?) ON CONFLICT DO NOTHING"
    static let finishRecharge = "UPDATE recharges SET status = ?, payment_intent = COALESCE(?, payment_intent), error = ? WHERE id = ? AND status = 'pending'"
    static let claimKey = "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at_ms) VALUES (?, ?, ?, NULL, NULL, ?) ON CONFLICT DO NOTHING"
    static let readKey = "SELECT request_hash, status, body FROM idempotency_keys WHERE scope = ? AND key = ?"
    static let finishKey = "UPDATE idempotency_keys SET status = ?, body = ? WHERE scope = ? AND key = ?"
    static let dropKey = "DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL"
    static let transfersSince = "SELECT tenant_id, kind, debit, credit, amount_nano, ref, created_at_ms FROM wallet_transfers WHERE created_at_ms >= ? AND kind <> 'usage' ORDER BY created_at_ms, id"

    static func claim(hash: String, stored: (hash: String, status: Int64?, body: String?)?) -> IdempotencyClaim {
        guard let stored else { return .inProgress }  // removed between our insert and read: retry later
        guard stored.hash == hash else { return .mismatch }
        guard let status = stored.status else { return .inProgress }
        return .replay(status: Int(status), body: stored.body ?? "")
    }
}
