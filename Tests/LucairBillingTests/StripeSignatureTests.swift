import LucairBilling
import LucairStorage
import LucairWire
import Testing

/// Stripe's webhook signature, its request encoding, and reconciliation's matching: pure parts.
@Suite struct StripeSignatureTests {
    let secret = "whsec_test_secret"
    let body = Array(#"{"id":"evt_1","type":"payment_intent.succeeded"}"#.utf8)

    @Test func aGenuineSignatureVerifiesAmongOthers() throws {
        let t: Int64 = 1_767_225_600
        let good = StripeSignature.header(body: body, secret: secret, timestamp: t)
        try StripeSignature.verify(body: body, header: good, secret: secret, now: t + 10)
        // Secrets roll: any one of several v1 signatures may match; unknown schemes are ignored.
        let v1 = good.split(separator: ",")[1]
        try StripeSignature.verify(body: body, header: "t=\(t),v0=abc,v1=\(String(repeating: "0", count: 64)),\(v1)", secret: secret, now: t)
    }

    @Test func forgedTamperedStaleAndMalformedAreRefused() {
        let t: Int64 = 1_767_225_600
        let good = StripeSignature.header(body: body, secret: secret, timestamp: t)
        #expect(throws: StripeSignature.Failure.noMatch) { try StripeSignature.verify(body: body, header: StripeSignature.header(body: body, secret: "whsec_other", timestamp: t), secret: secret, now: t) }
        #expect(throws: StripeSignature.Failure.noMatch) { try StripeSignature.verify(body: body + [0x20], header: good, secret: secret, now: t) }
        // The timestamp is signed too: moving it breaks the signature.
        #expect(throws: StripeSignature.Failure.noMatch) { try StripeSignature.verify(body: body, header: good.replacingOccurrences(of: "t=\(t)", with: "t=\(t + 1)"), secret: secret, now: t) }
        #expect(throws: StripeSignature.Failure.stale(ageSeconds: 301)) { try StripeSignature.verify(body: body, header: good, secret: secret, now: t + 301) }
        #expect(throws: StripeSignature.Failure.stale(ageSeconds: -301)) { try StripeSignature.verify(body: body, header: good, secret: secret, now: t - 301) }
        #expect(throws: StripeSignature.Failure.missingHeader) { try StripeSignature.verify(body: body, header: nil, secret: secret, now: t) }
        #expect(throws: StripeSignature.Failure.malformedHeader) { try StripeSignature.verify(body: body, header: "v1=abcd", secret: secret, now: t) }
        #expect(throws: StripeSignature.Failure.malformedHeader) { try StripeSignature.verify(body: body, header: "t=\(t)", secret: secret, now: t) }
        // Exactly at the tolerance is still accepted.
        #expect(throws: Never.self) { try StripeSignature.verify(body: body, header: good, secret: secret, now: t + 300) }
    }

    @Test func formEncodingNestsWithBracketsAndEscapes() {
        let s = StripeForm.encode([
            ("amount", "1050"), ("metadata", .dict([("tenant_id", "ten_1"), ("note", "a b&c=d/é")])),
            ("line_items", .list([.dict([("price_data", .dict([("unit_amount", "500")])), ("quantity", "1")])])),
        ])
        #expect(s == "amount=1050&metadata%5Btenant_id%5D=ten_1&metadata%5Bnote%5D=a%20b%26c%3Dd%2F%C3%A9&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=500&line_items%5B0%5D%5Bquantity%5D=1")
    }
}

@Suite struct ReconcilerTests {
    static func bt(_ type: String, _ amount: Int, _ source: JSONValue, category: String = "") -> JSONValue {
        ["type": .string(type), "amount": .int(amount), "source": source, "reporting_category": .string(category)]
    }

    static func transfer(_ kind: String, _ ref: String, cents: Int64, inbound: Bool, source: String = "stripe") -> WalletTransferRow {
        let counter = kind == "topup" ? "topup:\(source)" : kind == "refund" ? "refund:\(source)" : "dispute:\(source)"
        return WalletTransferRow(tenantId: "t", kind: kind, debit: inbound ? counter : "wallet:t", credit: inbound ? "wallet:t" : counter,
                                 amountNano: cents * Billing.nanoPerCent, ref: ref, createdAtMillis: 0)
    }

    @Test func everyChargeRefundAndDisputeMatchesOneTransferToTheCent() {
        let stripe: [JSONValue] = [
            Self.bt("charge", 2000, ["id": "ch_1", "payment_intent": "pi_1"]),
            Self.bt("refund", -500, ["id": "re_1"]),
            Self.bt("adjustment", -1000, ["id": "dp_1"], category: "dispute"),
            Self.bt("adjustment", 1000, ["id": "dp_1"], category: "dispute_reversal"),
            Self.bt("stripe_fee", -30, "fee_1"),  // never a wallet's money
        ]
        let ours = [
            Self.transfer("topup", "pi_1", cents: 2000, inbound: true), Self.transfer("refund", "re_1", cents: 500, inbound: false),
            Self.transfer("dispute", "dp_1", cents: 1000, inbound: false), Self.transfer("dispute_released", "dp_1", cents: 1000, inbound: true),
            Self.transfer("topup", "manual_1", cents: 99, inbound: true, source: "manual"),  // not Stripe's: not reconciled
        ]
        let r = Reconciler.reconcile(balanceTransactions: stripe, transfers: ours)
        #expect(r.clean && r.matched.count == 4, "\(r)")
    }

    @Test func whatIsMissingOrDiffersOnEitherSideIsReported() {
        let stripe: [JSONValue] = [Self.bt("charge", 2000, ["id": "ch_1", "payment_intent": "pi_1"]), Self.bt("refund", -500, ["id": "re_1"])]
        let ours = [Self.transfer("topup", "pi_1", cents: 1999, inbound: true), Self.transfer("refund", "re_2", cents: 100, inbound: false)]
        let r = Reconciler.reconcile(balanceTransactions: stripe, transfers: ours)
        #expect(!r.clean)
        #expect(r.amountDiffers.count == 1 && r.amountDiffers[0].stripe.cents == 2000 && r.amountDiffers[0].lucair.cents == 1999)
        #expect(r.onlyStripe.map(\.ref) == ["re_1"] && r.onlyLucair.map(\.ref) == ["re_2"])
    }
}
