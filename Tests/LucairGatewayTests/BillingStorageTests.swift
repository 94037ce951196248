import Foundation
import Logging
import LucairCore
import LucairStorage
import Testing

/// Billing's storage on SQLite and PostgreSQL: a wallet move recorded once per event and per
/// (kind, ref) with its ledger entry, one recharge in flight and a monthly cap, Idempotency-Keys.
@Suite(.serialized, .timeLimit(.minutes(3))) struct BillingStorageTests {
    func open(_ kind: String) async throws -> any Storage {
        let url: String
        if kind == "sqlite" {
            url = "sqlite://" + NSTemporaryDirectory() + "lucair-billing-\(UUID().uuidString)/db.sqlite"
        } else {
            url = try #require(ProcessInfo.processInfo.environment["LUCAIR_TEST_POSTGRES_URL"], "set LUCAIR_TEST_POSTGRES_URL")
        }
        let s = try await StorageFactory.open(url: url, logger: Logger(label: "test"))
        try await s.migrate()
        return s
    }

    @Test(arguments: ["sqlite", "postgres"]) func movesAreRecordedOncePerEventAndPerRef(_ kind: String) async throws {
        let s = try await open(kind)
        let t = "ten_bill_\(UUID().uuidString.prefix(8))"
        let top = WalletMove(tenantId: t, kind: .topup, amountNano: 2_000 * 10_000_000, source: "stripe", ref: "pi_\(t)", eventId: "evt_a_\(t)", atMillis: 1)
        // The same payment reported by two events (checkout.session.completed, payment_intent.succeeded): one credit.
        let other = WalletMove(tenantId: t, kind: .topup, amountNano: top.amountNano, source: "stripe", ref: top.ref, eventId: "evt_b_\(t)", atMillis: 1)
        // A hundred concurrent deliveries of both events.
        let results = try await withThrowingTaskGroup(of: Bool.self) { g in
            for i in 0..<100 { g.addTask { try await s.move(i % 2 == 0 ? top : other) } }
            return try await g.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        let refund = WalletMove(tenantId: t, kind: .refund, amountNano: 500 * 10_000_000, source: "stripe", ref: "re_\(t)", atMillis: 2)
        #expect(try await s.move(refund))
        #expect(try await !s.move(refund))
        #expect(try await s.move(WalletMove(tenantId: t, kind: .dispute, amountNano: 300 * 10_000_000, source: "stripe", ref: "dp_\(t)", eventId: "evt_c_\(t)", atMillis: 3)))
        #expect(try await s.move(WalletMove(tenantId: t, kind: .disputeReleased, amountNano: 300 * 10_000_000, source: "stripe", ref: "dp_\(t)", eventId: "evt_d_\(t)", atMillis: 4)))
        #expect(try await s.walletBalances()[t] == 1_500 * 10_000_000)
        let entries = try await s.ledgerEntries(tenantId: t)
        #expect(entries.count == 4)
        let transfers = try await s.walletTransfers(sinceMillis: 0).filter { $0.tenantId == t }
        #expect(transfers.map(\.kind) == ["topup", "refund", "dispute", "dispute_released"])
        #expect(transfers[1].debit == "wallet:\(t)" && transfers[1].credit == "refund:stripe")
        try await s.close()
    }

    @Test(arguments: ["sqlite", "postgres"]) func oneRechargeInFlightAndAMonthlyCap(_ kind: String) async throws {
        let s = try await open(kind)
        let t = "ten_rc_\(UUID().uuidString.prefix(8))"
        try await s.putBillingAccount(BillingAccount(tenantId: t, customerId: "cus_\(t)", paymentMethod: "pm_1", rechargeThresholdNano: 100, rechargeAmountCents: 500, rechargeMonthlyCapCents: 1000, updatedAtMillis: 1))
        #expect(try await s.billingAccounts().first { $0.tenantId == t }?.rechargeMonthlyCapCents == 1000)
        func r(_ n: Int) -> Recharge { Recharge(id: "rc_\(t)_\(n)", tenantId: t, amountCents: 500, month: "2026-11", createdAtMillis: Int64(n)) }
        let started = try await withThrowingTaskGroup(of: Bool.self) { g in
            for i in 0..<20 { g.addTask { try await s.startRecharge(r(i), monthlyCapCents: 1000) } }
            return try await g.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(started == 1, "at most one in flight per wallet")
        let first = try #require(try await s.recharges(tenantId: t).first)
        try await s.finishRecharge(id: first.id, status: .succeeded, paymentIntent: "pi_1", error: nil)
        #expect(try await s.startRecharge(r(100), monthlyCapCents: 1000))
        try await s.finishRecharge(id: r(100).id, status: .succeeded, paymentIntent: "pi_2", error: nil)
        #expect(try await !s.startRecharge(r(101), monthlyCapCents: 1000), "the month's cap is reached")
        // A failed attempt does not count against the cap.
        #expect(try await s.recharges(tenantId: t).map(\.status) == [.succeeded, .succeeded])
        try await s.close()
    }

    @Test(arguments: ["sqlite", "postgres"]) func idempotencyKeysReplayMismatchAndRelease(_ kind: String) async throws {
        let s = try await open(kind)
        let scope = "topup:ten_\(UUID().uuidString.prefix(8))"
        #expect(try await s.claimIdempotency(scope: scope, key: "k1", requestHash: "h1", atMillis: 1) == .claimed)
        #expect(try await s.claimIdempotency(scope: scope, key: "k1", requestHash: "h1", atMillis: 2) == .inProgress)
        try await s.finishIdempotency(scope: scope, key: "k1", status: 201, body: "{\"id\":\"tu_1\"}")
        #expect(try await s.claimIdempotency(scope: scope, key: "k1", requestHash: "h1", atMillis: 3) == .replay(status: 201, body: "{\"id\":\"tu_1\"}"))
        #expect(try await s.claimIdempotency(scope: scope, key: "k1", requestHash: "h2", atMillis: 3) == .mismatch)
        // A claim whose request failed without an answer is released for a retry; an answered one is kept.
        #expect(try await s.claimIdempotency(scope: scope, key: "k2", requestHash: "h", atMillis: 4) == .claimed)
        try await s.dropIdempotency(scope: scope, key: "k2")
        try await s.dropIdempotency(scope: scope, key: "k1")
        #expect(try await s.claimIdempotency(scope: scope, key: "k2", requestHash: "h", atMillis: 5) == .claimed)
        #expect(try await s.claimIdempotency(scope: scope, key: "k1", requestHash: "h1", atMillis: 5) == .replay(status: 201, body: "{\"id\":\"tu_1\"}"))
        try await s.close()
    }
}
