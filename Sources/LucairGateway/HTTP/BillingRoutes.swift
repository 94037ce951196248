import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LucairBilling
import LucairCore
import LucairLedger
import LucairStorage
import LucairWire
import NIOCore

/// Stripe billing over HTTP: the webhook endpoint Stripe posts to, and each tenant's billing API
/// (customer, card, top-ups, auto-recharge) next to its wallet in the admin API. Thin: the work is
/// in `LucairBilling.Billing`.
struct BillingRoutes {
    let admin: AdminRoutes
    var gateway: Gateway { admin.routes.gateway }

    static let off = GatewayError(status: 404, type: "invalid_request_error", code: "billing_disabled",
                                  message: "Card billing is off on this Lucair: the operator sets STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to turn it on.", origin: .client)

    func billing() throws -> Billing {
        guard let b = gateway.billing else { throw Self.off }
        return b
    }

    func register(on router: Router<LucairContext>) {
        router.post("/webhooks/stripe") { request, _ in try await webhook(request) }
        let t = router.group("/admin/v1/tenants/{tenant}/billing")
        t.get("") { request, context in
            let tenant = try await admin.visibleTenant(request, context)
            let b = try billing()
            // The account first: a recharge is marked failed before the account is paused for it, so
            // a pause seen here has its failed recharge in the list read after (read the other way
            // round, a pause landing in between showed a paused account beside a pending recharge).
            let account = b.account(tenant.id)
            let recharges = try await gateway.storage.recharges(tenantId: tenant.id)
            return admin.routes.json(accountJSON(account, tenant: tenant.id, recharges: recharges))
        }
        t.post("/payment_method") { request, context in
            let tenant = try await admin.visibleTenant(request, context)
            let body = try await admin.object(request)
            let pm = try admin.str(body, "payment_method", required: true)!
            let a = try await call { try await billing().setPaymentMethod(tenantId: tenant.id, paymentMethod: pm) }
            return admin.routes.json(accountJSON(a, tenant: tenant.id, recharges: nil))
        }
        t.put("/auto_recharge") { request, context in
            let tenant = try await admin.visibleTenant(request, context)
            let body = try await admin.object(request)
            let threshold = try cents(body, "threshold_cents", allowZero: true)
            let amount = try cents(body, "amount_cents") ?? 0
            let cap = try cents(body, "monthly_cap_cents") ?? amount * 10
            if threshold != nil, amount == 0 { throw GatewayError.invalid("'amount_cents' is required with a threshold: how much each recharge adds.", param: "amount_cents") }
            let a = try await call { try await billing().setAutoRecharge(tenantId: tenant.id, thresholdCents: threshold, amountCents: amount, monthlyCapCents: cap) }
            return admin.routes.json(accountJSON(a, tenant: tenant.id, recharges: nil))
        }
        t.post("/checkout") { request, context in
            let tenant = try await admin.visibleTenant(request, context)
            let body = try await admin.object(request)
            let amount = try required(cents(body, "amount_cents"), "amount_cents")
            let success = try admin.str(body, "success_url", required: true)!, cancel = try admin.str(body, "cancel_url", required: true)!
            let s = try await call { try await billing().checkout(tenantId: tenant.id, amountCents: amount, successURL: success, cancelURL: cancel) }
            return admin.routes.json(s, status: .created)
        }
        t.post("/topups") { request, context in
            let tenant = try await admin.visibleTenant(request, context)
            let raw = try await admin.routes.jsonBody(request)
            guard case .object(let body) = raw else { throw GatewayError.invalid("The request body must be a JSON object.") }
            return try await idempotent(request, scope: "topup:" + tenant.id, body: raw) {
                let amount = try required(cents(body, "amount_cents"), "amount_cents")
                let pm = try admin.str(body, "payment_method")
                return (.created, try await call { try await billing().topUp(tenantId: tenant.id, amountCents: amount, paymentMethod: pm) })
            }
        }
    }

    func webhook(_ request: Request) async throws -> Response {
        let b = try billing()
        let buffer = try await request.body.collect(upTo: gateway.config.maxBodyBytes)
        do {
            let outcomes = try await b.handleWebhook(body: Array(buffer.readableBytesView), signature: request.headers[HTTPField.Name("Stripe-Signature")!])
            return admin.routes.json(["received": true, "outcomes": .array(outcomes.map(Self.outcomeJSON))])
        } catch let e as StripeSignature.Failure {
            gateway.logger.warning("Stripe webhook refused", metadata: ["reason": "\(e)"])
            throw GatewayError.invalid("Webhook signature refused: \(e).", code: "invalid_signature")
        }
    }

    static func outcomeJSON(_ o: Billing.WebhookOutcome) -> JSONValue {
        switch o {
        case .applied(let t, let d): ["result": "applied", "tenant_id": .string(t), "delta_nano": .int(d)]
        case .duplicate: ["result": "duplicate"]
        case .ignored(let why): ["result": "ignored", "reason": .string(why)]
        }
    }

    func accountJSON(_ a: BillingAccount?, tenant: String, recharges: [Recharge]?) -> JSONValue {
        var out: JSONValue = ["object": "billing_account", "tenant_id": .string(tenant), "customer": a.map { .string($0.customerId) } ?? nil,
                              "payment_method": a?.paymentMethod.map { .string($0) } ?? nil,
                              "auto_recharge": [
                                  "enabled": .bool(a?.rechargeThresholdNano != nil && a?.pausedReason == nil),
                                  "threshold_cents": a?.rechargeThresholdNano.map { .int($0 / Billing.nanoPerCent) } ?? nil,
                                  "amount_cents": .int(a?.rechargeAmountCents ?? 0), "monthly_cap_cents": .int(a?.rechargeMonthlyCapCents ?? 0),
                                  "paused_reason": a?.pausedReason.map { .string($0) } ?? nil,
                              ],
                              "wallet": admin.walletJSON(tenant)]
        if let recharges {
            out["recharges"] = .array(recharges.map {
                ["id": .string($0.id), "amount_cents": .int($0.amountCents), "status": .string($0.status.rawValue),
                 "payment_intent": $0.paymentIntent.map { .string($0) } ?? nil, "error": $0.error.map { .string($0) } ?? nil]
            })
        }
        return out
    }

    func cents(_ o: JSONObject, _ k: String, allowZero: Bool = false) throws -> Int64? {
        guard let v = o[k], !v.isNull else { return nil }
        guard let n = v.intValue, n > 0 || (allowZero && n == 0), n <= 100_000_000 else {
            throw GatewayError.invalid("'\(k)' must be a whole number of US cents\(allowZero ? "" : " above zero"), at most 100000000.", param: k)
        }
        return Int64(n)
    }

    func required<T>(_ v: T?, _ k: String) throws -> T {
        guard let v else { throw GatewayError.invalid("Missing required parameter: '\(k)'.", param: k, code: "missing_required_parameter") }
        return v
    }

    /// Stripe's errors, as the client should see them: a refused card is 402 with its code.
    func call<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as BillingError {
            switch e {
            case .invalid(let m, let param): throw GatewayError.invalid(m, param: param)
            case .declined(let m, let code): throw GatewayError(status: 402, type: "card_error", code: code, message: "The card was refused: \(m)", origin: .client)
            case .unexpected(let m): throw GatewayError(status: 502, type: "api_error", code: "billing_provider_error", message: m, origin: .upstream(deployment: "stripe"))
            }
        } catch let e as StripeError {
            throw GatewayError(status: 502, type: "api_error", code: "billing_provider_error",
                               message: "Stripe refused or could not be reached (\(e.type)\(e.code.map { ", \($0)" } ?? "")). Try again; nothing was charged twice (the request is idempotent).",
                               origin: .upstream(deployment: "stripe"), retryable: e.retryable)
        }
    }

    /// Stripe's Idempotency-Key semantics for our own API: the same key with the same body gets the
    /// first answer again; with another body, an error; while the first is running, 409.
    func idempotent(_ request: Request, scope: String, body: JSONValue, _ work: () async throws -> (HTTPResponse.Status, JSONValue)) async throws -> Response {
        guard let key = request.headers[HTTPField.Name("Idempotency-Key")!], !key.isEmpty else {
            let (status, out) = try await work()
            return admin.routes.json(out, status: status)
        }
        guard key.count <= 255 else { throw GatewayError.invalid("Idempotency-Key must be at most 255 characters.", code: "idempotency_key_too_long") }
        let hash = Hex.encode(SHA256.hash(data: body.serialized()))
        let storage = gateway.storage
        switch try await storage.claimIdempotency(scope: scope, key: key, requestHash: hash, atMillis: Int64(Date().timeIntervalSince1970 * 1000)) {
        case .replay(let status, let stored):
            var r = Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: stored)))
            r.headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
            return r
        case .mismatch:
            throw GatewayError(status: 400, type: "idempotency_error", code: "idempotency_key_reused",
                               message: "Keys for idempotent requests can only be used with the same parameters they were first used with. Use a new Idempotency-Key for a new request.", origin: .client)
        case .inProgress:
            throw GatewayError(status: 409, type: "idempotency_error", code: "idempotency_key_in_use",
                               message: "A request with this Idempotency-Key is still being processed. Retry in a moment to get its answer.", origin: .client, retryable: true)
        case .claimed:
            let status: Int, out: JSONValue
            do {
                let (s, o) = try await work()
                status = Int(s.code); out = o
            } catch let e as GatewayError where e.status < 500 {
                status = e.status; out = e.openAIBody  // a refusal is an answer too: replayed as is
            } catch {
                try? await storage.dropIdempotency(scope: scope, key: key)  // no answer yet: the key may be retried
                throw error
            }
            try await storage.finishIdempotency(scope: scope, key: key, status: status, body: out.jsonString)
            return admin.routes.json(out, status: .init(code: status))
        }
    }
}
