import Foundation
import Logging
import LucairCore
import LucairStorage
import LucairWire
import Synchronization

/// Card payments into prepaid wallets, through Stripe. Money reaches a wallet only from a verified
/// webhook (never from a redirect or an API answer); every call to Stripe carries an
/// Idempotency-Key derived from our own record; every wallet change is one `Storage.move`, recorded
/// once by its event and by its payment, refund or dispute id.
public final class Billing: Sendable {
    public static let nanoPerCent: NanoUSD = 10_000_000

    public let stripe: StripeClient
    let storage: any Storage
    let webhookSecret: String
    let logger: Logger
    /// Billing accounts by tenant (loaded at start, updated on every write).
    let accounts = Mutex<[String: BillingAccount]>([:])
    /// Tenants with an auto-recharge call running in this process.
    let recharging = Mutex<Set<String>>([])
    /// The in-memory wallets: a move's delta is applied there too, and auto-recharge reads balances.
    let credit: @Sendable (String, NanoUSD) -> Void
    let balance: @Sendable (String) -> NanoUSD

    public init(stripe: StripeClient, webhookSecret: String, storage: any Storage, logger: Logger,
                credit: @escaping @Sendable (String, NanoUSD) -> Void, balance: @escaping @Sendable (String) -> NanoUSD) {
        self.stripe = stripe
        self.webhookSecret = webhookSecret
        self.storage = storage
        self.logger = logger
        self.credit = credit
        self.balance = balance
    }

    public func load() async throws {
        let all = try await storage.billingAccounts()
        accounts.withLock { a in for x in all { a[x.tenantId] = x } }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
    static func newId(_ prefix: String) -> String { prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24) }

    public func account(_ tenantId: String) -> BillingAccount? { accounts.withLock { $0[tenantId] } }

    func save(_ a: BillingAccount) async throws {
        try await storage.putBillingAccount(a)
        accounts.withLock { $0[a.tenantId] = a }
    }

    /// The tenant's Stripe customer, created on first use (the key makes a retried creation return
    /// the same customer).
    public func ensureAccount(_ tenantId: String) async throws -> BillingAccount {
        if let a = account(tenantId) { return a }
        let c = try await stripe.post("/v1/customers", [("metadata", .dict([("tenant_id", .string(tenantId))]))], idempotencyKey: "lucair-customer-" + tenantId)
        guard let id = c["id"]?.stringValue else { throw BillingError.unexpected("Stripe created a customer without an id") }
        let a = BillingAccount(tenantId: tenantId, customerId: id, updatedAtMillis: Self.now())
        try await save(a)
        return a
    }

    func tenant(customer: String?, metadata: JSONValue?) -> String? {
        if let t = metadata?["tenant_id"]?.stringValue { return t }
        guard let customer else { return nil }
        return accounts.withLock { $0.values.first { $0.customerId == customer }?.tenantId }
    }

    // MARK: Top-ups

    /// A Checkout Session for a top-up (`mode=payment`), saving the card for auto-recharge.
    public func checkout(tenantId: String, amountCents: Int64, successURL: String, cancelURL: String) async throws -> JSONValue {
        let a = try await ensureAccount(tenantId)
        let id = Self.newId("co_")
        let meta: StripeForm.Value = .dict([("tenant_id", .string(tenantId)), ("lucair_checkout", .string(id))])
        let s = try await stripe.post("/v1/checkout/sessions", [
            ("mode", "payment"), ("customer", .string(a.customerId)), ("client_reference_id", .string(tenantId)),
            ("success_url", .string(successURL)), ("cancel_url", .string(cancelURL)),
            ("line_items", .list([.dict([
                ("price_data", .dict([("currency", "usd"), ("unit_amount", .string(String(amountCents))), ("product_data", .dict([("name", "Lucair wallet top-up")]))])),
                ("quantity", "1"),
            ])])),
            ("payment_intent_data", .dict([("setup_future_usage", "off_session"), ("metadata", meta)])),
            ("metadata", meta),
        ], idempotencyKey: "lucair-checkout-" + id)
        return ["object": "checkout", "id": s["id"] ?? .null, "url": s["url"] ?? .null, "amount_cents": .int(amountCents), "credited": false]
    }

    /// A top-up through the API: a PaymentIntent confirmed now with the given (or saved) card. The
    /// wallet is credited when Stripe's `payment_intent.succeeded` arrives.
    public func topUp(tenantId: String, amountCents: Int64, paymentMethod: String?) async throws -> JSONValue {
        let a = try await ensureAccount(tenantId)
        guard let pm = paymentMethod ?? a.paymentMethod else {
            throw BillingError.invalid("No card on file: pass 'payment_method', or save one with POST …/billing/payment_method.", param: "payment_method")
        }
        let id = Self.newId("tu_")
        let pi: JSONValue
        do {
            pi = try await stripe.post("/v1/payment_intents", [
                ("amount", .string(String(amountCents))), ("currency", "usd"), ("customer", .string(a.customerId)),
                ("payment_method", .string(pm)), ("confirm", "true"),
                ("metadata", .dict([("tenant_id", .string(tenantId)), ("lucair_topup", .string(id))])),
            ], idempotencyKey: "lucair-topup-" + id)
        } catch let e as StripeError where e.status == 402 {
            throw BillingError.declined(e.message, code: e.declineCode ?? e.code ?? "card_declined")
        }
        var out: JSONValue = ["object": "topup", "id": .string(id), "payment_intent": pi["id"] ?? .null, "status": pi["status"] ?? .null,
                              "amount_cents": .int(amountCents), "credited": false]
        if pi["status"]?.stringValue == "requires_action" { out["client_secret"] = pi["client_secret"] ?? .null }
        return out
    }

    /// Saves a card (a PaymentMethod) on the tenant's customer for auto-recharge; un-pauses it.
    public func setPaymentMethod(tenantId: String, paymentMethod: String) async throws -> BillingAccount {
        var a = try await ensureAccount(tenantId)
        do {
            _ = try await stripe.post("/v1/payment_methods/\(paymentMethod)/attach", [("customer", .string(a.customerId))], idempotencyKey: "lucair-attach-\(a.customerId)-\(paymentMethod)")
        } catch let e as StripeError where e.status == 402 {
            throw BillingError.declined(e.message, code: e.declineCode ?? e.code ?? "card_declined")
        }
        a.paymentMethod = paymentMethod
        a.pausedReason = nil
        a.updatedAtMillis = Self.now()
        try await save(a)
        return a
    }

    /// Auto-recharge settings (nil threshold: off). Saving them un-pauses auto-recharge.
    public func setAutoRecharge(tenantId: String, thresholdCents: Int64?, amountCents: Int64, monthlyCapCents: Int64) async throws -> BillingAccount {
        var a = try await ensureAccount(tenantId)
        a.rechargeThresholdNano = thresholdCents.map { $0 * Self.nanoPerCent }
        a.rechargeAmountCents = amountCents
        a.rechargeMonthlyCapCents = monthlyCapCents
        a.pausedReason = nil
        a.updatedAtMillis = Self.now()
        try await save(a)
        return a
    }

    // MARK: Auto-recharge

    /// Called after a wallet is debited: starts a recharge when the balance fell below the
    /// tenant's threshold. An in-memory check; the work runs off the request path.
    public func walletDebited(_ tenantId: String) {
        guard let a = account(tenantId), let threshold = a.rechargeThresholdNano, a.pausedReason == nil, a.paymentMethod != nil,
              a.rechargeAmountCents > 0, balance(tenantId) < threshold,
              recharging.withLock({ $0.insert(tenantId).inserted }) else { return }
        Task {
            defer { _ = recharging.withLock { $0.remove(tenantId) } }
            await recharge(a)
        }
    }

    static func month(_ millis: Int64) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date(timeIntervalSince1970: Double(millis) / 1000))
        return String(format: "%04d-%02d", c.year ?? 0, c.month ?? 0)
    }

    /// One off-session charge of the saved card. A decline or a card that needs its owner pauses
    /// auto-recharge and flags the tenant; the wallet keeps failing closed at zero.
    public func recharge(_ a: BillingAccount) async {
        guard let pm = a.paymentMethod else { return }
        let now = Self.now()
        let r = Recharge(id: Self.newId("rc_"), tenantId: a.tenantId, amountCents: a.rechargeAmountCents, month: Self.month(now), createdAtMillis: now)
        do {
            guard try await storage.startRecharge(r, monthlyCapCents: a.rechargeMonthlyCapCents) else {
                logger.notice("auto-recharge skipped: one is in flight, or the monthly cap is reached", metadata: ["tenant": "\(a.tenantId)"])
                return
            }
        } catch {
            logger.error("auto-recharge not started: storage failed", metadata: ["tenant": "\(a.tenantId)", "error": "\(error)"])
            return
        }
        do {
            let pi = try await stripe.post("/v1/payment_intents", [
                ("amount", .string(String(r.amountCents))), ("currency", "usd"), ("customer", .string(a.customerId)),
                ("payment_method", .string(pm)), ("off_session", "true"), ("confirm", "true"),
                ("metadata", .dict([("tenant_id", .string(a.tenantId)), ("lucair_recharge", .string(r.id))])),
            ], idempotencyKey: "lucair-recharge-" + r.id)
            let status = pi["status"]?.stringValue ?? ""
            if status == "succeeded" || status == "processing" {
                // Credited (and marked succeeded) when the webhook arrives.
                try? await storage.finishRecharge(id: r.id, status: .pending, paymentIntent: pi["id"]?.stringValue, error: nil)
            } else {
                // requires_action: the bank wants the cardholder, who is not here.
                await failRecharge(r, paymentIntent: pi["id"]?.stringValue, reason: "authentication_required")
            }
        } catch let e as StripeError {
            if e.status == 402 || e.type == "card_error" {
                // Stripe's error code (card_declined, authentication_required…), the same word the
                // payment_intent.payment_failed webhook carries: whichever arrives first, one reason.
                await failRecharge(r, paymentIntent: e.paymentIntent?["id"]?.stringValue, reason: e.code ?? "card_declined")
            } else {
                // Not paused: a later debit tries again. A charge Stripe did make is still credited by its webhook.
                try? await storage.finishRecharge(id: r.id, status: .failed, paymentIntent: nil, error: e.description)
                logger.error("auto-recharge failed", metadata: ["tenant": "\(a.tenantId)", "error": "\(e)"])
            }
        } catch {
            try? await storage.finishRecharge(id: r.id, status: .failed, paymentIntent: nil, error: "\(error)")
        }
    }

    func failRecharge(_ r: Recharge, paymentIntent: String?, reason: String) async {
        try? await storage.finishRecharge(id: r.id, status: .failed, paymentIntent: paymentIntent, error: reason)
        await pause(r.tenantId, reason: reason)
    }

    func pause(_ tenantId: String, reason: String) async {
        guard var a = account(tenantId), a.pausedReason == nil else { return }
        a.pausedReason = reason
        a.updatedAtMillis = Self.now()
        logger.warning("auto-recharge paused: the card was refused; the tenant must update its card or settings", metadata: ["tenant": "\(tenantId)", "reason": "\(reason)"])
        do { try await save(a) } catch { logger.error("could not store the auto-recharge pause", metadata: ["tenant": "\(tenantId)", "error": "\(error)"]) }
    }

    // MARK: Webhooks

    public enum WebhookOutcome: Sendable, Equatable {
        case applied(tenant: String, deltaNano: NanoUSD)
        case duplicate
        case ignored(String)
    }

    /// Verifies and applies one webhook delivery. Throws `StripeSignature.Failure` for a forged or
    /// stale request (answer 400), other errors when storage failed (answer 500: Stripe retries).
    public func handleWebhook(body: [UInt8], signature: String?) async throws -> [WebhookOutcome] {
        try StripeSignature.verify(body: body, header: signature, secret: webhookSecret)
        guard let event = try? JSON.parse(bytes: body), let eventId = event["id"]?.stringValue, let type = event["type"]?.stringValue,
              let object = event["data"]?["object"] else {
            return [.ignored("not a Stripe event")]
        }
        let at = Int64(event["created"]?.intValue ?? 0) * 1000
        switch type {
        case "payment_intent.succeeded":
            return [try await paymentSucceeded(object, eventId: eventId, at: at)]
        case "checkout.session.completed", "checkout.session.async_payment_succeeded":
            guard object["payment_status"]?.stringValue == "paid" else { return [.ignored("checkout session not paid yet")] }
            guard let tenant = object["metadata"]?["tenant_id"]?.stringValue ?? object["client_reference_id"]?.stringValue,
                  let cents = object["amount_total"]?.intValue else { return [.ignored("checkout session without tenant or amount")] }
            // Keyed by the PaymentIntent, like payment_intent.succeeded: whichever comes first credits.
            let ref = object["payment_intent"]?.stringValue ?? object["id"]?.stringValue ?? eventId
            return [try await apply(WalletMove(tenantId: tenant, kind: .topup, amountNano: Int64(cents) * Self.nanoPerCent, source: "stripe", ref: ref, eventId: eventId, atMillis: at))]
        case "payment_intent.payment_failed":
            if let rc = object["metadata"]?["lucair_recharge"]?.stringValue, let tenant = object["metadata"]?["tenant_id"]?.stringValue {
                let reason = object["last_payment_error"]?["code"]?.stringValue ?? "card_declined"
                try await storage.finishRecharge(id: rc, status: .failed, paymentIntent: object["id"]?.stringValue, error: reason)
                await pause(tenant, reason: reason)
                return [.ignored("recharge failed: \(reason)")]
            }
            return [.ignored("payment failed; nothing was credited")]
        case "charge.refunded":
            return try await refunded(object)
        case "charge.dispute.created":
            return [try await dispute(object, kind: .dispute, eventId: eventId, at: at)]
        case "charge.dispute.closed":
            guard object["status"]?.stringValue == "won" else { return [.ignored("dispute lost: the held amount stays taken")] }
            return [try await dispute(object, kind: .disputeReleased, eventId: eventId, at: at)]
        default:
            return [.ignored("event type \(type) is not used")]
        }
    }

    func apply(_ m: WalletMove) async throws -> WebhookOutcome {
        guard m.amountNano > 0 else { return .ignored("zero amount") }
        guard try await storage.move(m) else { return .duplicate }
        credit(m.tenantId, m.walletDelta)
        logger.info("wallet \(m.kind.rawValue)", metadata: ["tenant": "\(m.tenantId)", "amount_nano": "\(m.walletDelta)", "ref": "\(m.ref)"])
        return .applied(tenant: m.tenantId, deltaNano: m.walletDelta)
    }

    func paymentSucceeded(_ pi: JSONValue, eventId: String, at: Int64) async throws -> WebhookOutcome {
        guard let id = pi["id"]?.stringValue, let tenant = tenant(customer: pi["customer"]?.stringValue, metadata: pi["metadata"]) else {
            return .ignored("payment for no known tenant")
        }
        guard let cents = pi["amount_received"]?.intValue ?? pi["amount"]?.intValue else { return .ignored("payment without amount") }
        let outcome = try await apply(WalletMove(tenantId: tenant, kind: .topup, amountNano: Int64(cents) * Self.nanoPerCent, source: "stripe", ref: id, eventId: eventId, atMillis: at))
        if let rc = pi["metadata"]?["lucair_recharge"]?.stringValue {
            try await storage.finishRecharge(id: rc, status: .succeeded, paymentIntent: id, error: nil)
        }
        // A card saved for later (Checkout with setup_future_usage) becomes the auto-recharge card.
        if let pm = pi["payment_method"]?.stringValue, var a = account(tenant), a.paymentMethod == nil {
            a.paymentMethod = pm
            a.updatedAtMillis = Self.now()
            try await save(a)
        }
        return outcome
    }

    /// Each refund of the charge is its own move, keyed by the refund id: a charge refunded in two
    /// parts moves two amounts, and a replayed or reordered event moves nothing again.
    func refunded(_ charge: JSONValue) async throws -> [WebhookOutcome] {
        guard let chargeId = charge["id"]?.stringValue, let tenant = tenant(customer: charge["customer"]?.stringValue, metadata: charge["metadata"]) else {
            return [.ignored("refund for no known tenant")]
        }
        // The event's embedded list may be absent (newer API versions) or stale: ask Stripe.
        let refunds = try await stripe.list("/v1/refunds", query: [("charge", .string(chargeId))])
        var out: [WebhookOutcome] = []
        for r in refunds where r["status"]?.stringValue == "succeeded" {
            guard let id = r["id"]?.stringValue, let cents = r["amount"]?.intValue else { continue }
            let at = Int64(r["created"]?.intValue ?? 0) * 1000
            out.append(try await apply(WalletMove(tenantId: tenant, kind: .refund, amountNano: Int64(cents) * Self.nanoPerCent, source: "stripe", ref: id, atMillis: at)))
        }
        return out.isEmpty ? [.ignored("no succeeded refund on \(chargeId)")] : out
    }

    func dispute(_ d: JSONValue, kind: WalletMove.Kind, eventId: String, at: Int64) async throws -> WebhookOutcome {
        guard let id = d["id"]?.stringValue, let cents = d["amount"]?.intValue, let chargeId = d["charge"]?.stringValue else {
            return .ignored("dispute without id, amount or charge")
        }
        let charge = try await stripe.get("/v1/charges/\(chargeId)")
        guard let tenant = tenant(customer: charge["customer"]?.stringValue, metadata: charge["metadata"]) else { return .ignored("dispute for no known tenant") }
        return try await apply(WalletMove(tenantId: tenant, kind: kind, amountNano: Int64(cents) * Self.nanoPerCent, source: "stripe", ref: id, eventId: eventId, atMillis: at))
    }
}

/// Billing errors a client can act on.
public enum BillingError: Error, CustomStringConvertible {
    case invalid(String, param: String?)
    case declined(String, code: String)
    case unexpected(String)
    public var description: String {
        switch self {
        case .invalid(let m, _), .unexpected(let m): m
        case .declined(let m, let code): "\(m) (\(code))"
        }
    }
}
