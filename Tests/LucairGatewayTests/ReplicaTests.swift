import Foundation
import LucairWire
import Testing

/// Two gateways sharing one PostgreSQL, as two replicas would.
@Suite(.timeLimit(.minutes(3))) struct ReplicaTests {
    var postgres: String {
        get throws { try #require(ProcessInfo.processInfo.environment["LUCAIR_TEST_POSTGRES_URL"], "scripts/postgres.sh prints the URL") }
    }

    /// Replica two polls the key version every 250 ms, so this takes well under a second on an idle
    /// machine; the bound is 10 s so that a loaded CI machine (each reload is several queries on a
    /// shared pool) does not fail a correct build.
    @Test func aKeyMintedOrRevokedOnOneReplicaIsHonouredByTheOther() async throws {
        let url = try postgres
        try await TestStack.with(storageURL: url) { one in
            try await TestStack.with(storageURL: url) { two in
                let t = try await one.tenant("replica-\(UUID().uuidString.prefix(8))")
                // Minted through replica one: replica two accepts it once its poll sees the new version.
                let accepted = try await TestStack.polling({ try await two.chat(t.user).status }, until: { $0 == 200 })
                #expect(accepted == 200)
                #expect(try await two.chat(t.user).status == 200)
                let r = try await one.send("POST", "/admin/v1/tenants/\(t.id)/keys/\(t.userLineage)/revoke", key: TestStack.adminKey)
                #expect(r.status == 200)
                let refused = try await TestStack.polling({ try await two.chat(t.user).status }, until: { $0 == 401 })
                #expect(refused == 401, "replica two still accepted the revoked key after 10 s")
                #expect(try await one.chat(t.user).status == 401)
            }
        }
    }
}

@Suite(.timeLimit(.minutes(3))) struct SharedLimitTests {
    @Test func sixtyRPMKeyAdmitsAtMostSixtyAcrossTwoReplicas() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["LUCAIR_TEST_POSTGRES_URL"])
        try await TestStack.awayFromMinuteEdge(needing: 20)  // the limit is per clock minute
        try await TestStack.with(storageURL: url) { one in
            try await TestStack.with(storageURL: url) { two in
                let t = try await one.tenant("rpm-\(UUID().uuidString.prefix(8))")
                let minted = try await one.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["limits": ["rpm": 60]], key: TestStack.adminKey)
                let key = try #require(minted.json["key"]?.stringValue)
                try await TestStack.loaded(key, on: [one, two])
                let statuses = try await withThrowingTaskGroup(of: Int.self) { g in
                    for i in 0..<100 {
                        g.addTask { try await (i % 2 == 0 ? one : two).chat(key).status }
                    }
                    return try await g.reduce(into: [Int]()) { $0.append($1) }
                }
                let admitted = statuses.filter { $0 == 200 }.count
                // Exactly 60 while the shared store answers within its bound; a request it did not
                // answer in time is counted by its replica alone (the designed fail-open), and may
                // be one more admitted, or, until the store hears of it, one fewer.
                let fallbacks = TestStack.fallbacks(one, two)
                if fallbacks == 0 {
                    #expect(admitted == 60 && statuses.filter { $0 == 429 }.count == 40, "\(statuses.sorted())")
                } else {
                    #expect(admitted >= 60 - fallbacks && admitted <= 60 + fallbacks, "\(admitted) admitted with \(fallbacks) local fallbacks")
                }
                let health = try JSON.parse(try await two.get("/health", key: nil).body)
                #expect(health["limits"]?["shared"] == true)
                // A grant past its 250 ms bound marks the store unreachable until one answers in time.
                if fallbacks == 0 { #expect(health["limits"]?["shared_unreachable"] == false) }
                // A limit under 64 gets no blocks: every one of the 100 requests asked the store.
                var trips = 0, seen = ""
                for replica in [one, two] {
                    let metrics = try await replica.get("/metrics", key: nil).body
                    seen += metrics.split(separator: "\n").filter { $0.contains("lucair_limit") }.joined(separator: "; ")
                    let line = metrics.split(separator: "\n").first { $0.hasPrefix("lucair_limit_store_round_trips ") }
                    trips += line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0  // gauges print as 50.0
                }
                if fallbacks == 0 { #expect(trips == 100, "\(seen)") }
            }
        }
    }
}

@Suite(.timeLimit(.minutes(3))) struct SharedConcurrencyAndSpendTests {
    @Test func concurrencyAndSpendCapsHoldAcrossReplicas() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["LUCAIR_TEST_POSTGRES_URL"])
        try await TestStack.with(storageURL: url) { one in
            try await TestStack.with(storageURL: url) { two in
                let t = try await one.tenant("shared-\(UUID().uuidString.prefix(8))")
                let narrow = try #require(try await one.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["limits": ["max_concurrent": 1]], key: TestStack.adminKey).json["key"]?.stringValue)
                try await TestStack.loaded(narrow, on: [one, two])
                let slow = Task { try await one.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "x [fake chunks=40 chunk_delay_ms=50]", stream: true), key: narrow) }
                // Until the stream is upstream on replica one (its lease taken), however loaded the machine.
                for _ in 0..<100 where one.gateway.health.snapshot().allSatisfy({ $0.outstanding == 0 }) { try await Task.sleep(for: .milliseconds(50)) }
                let busy = try await two.chat(narrow)
                // A replica whose shared store did not answer within its bound counts alone (the designed fail-open).
                if TestStack.fallbacks(one, two) == 0 {
                    #expect(busy.status == 429 && busy.json["error"]?["message"]?.stringValue?.contains("across all replicas") == true, "\(busy.body)")
                }
                let slowReply = try await slow.value
                #expect(slowReply.status == 200, "\(slowReply.status): \(slowReply.body.prefix(300))")
                await one.gateway.limiter.flushSettles()  // the lease is dropped by the settle
                // At once on an idle machine; a grant that missed its bound and committed late is
                // released 5 s on (`lateGrantRelease`), so this asks for up to 10 s, not the lease's 15 minutes.
                let next = try await TestStack.polling(every: .milliseconds(100), { try await two.chat(narrow) }, until: { $0.status != 429 })
                #expect(next.status == 200, "\(next.status): \(next.body.prefix(300))")

                let capped = try #require(try await one.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["limits": ["daily_spend_cap_nano_usd": 1]], key: TestStack.adminKey).json["key"]?.stringValue)
                try await TestStack.loaded(capped, on: [one, two])
                let before = TestStack.fallbacks(one, two)
                #expect(try await one.chat(capped).status == 200)  // spends the whole cap
                await one.gateway.limiter.flushSettles()           // its spend reaches the shared windows
                // Replica two sees it once its spend is older than the freshness bound and the settle
                // has committed (a settle already in flight is not waited for by flushSettles), so
                // this asks replica two's limiter until it refuses, for up to 10 s. Each probe spends
                // nothing: a chat would add its own cost to replica two's count and be refused by that.
                let onTwo = try #require(two.gateway.keys.principal(forKey: capped))
                let refusal = try await TestStack.polling(every: .milliseconds(Int(QuotaPool.spendFreshMillis) + 50), { () async throws -> GatewayError? in
                    do {
                        two.gateway.limiter.settle(try await two.gateway.limiter.admit(onTwo, estimatedTokens: 10), actualTokens: 10, cost: 0)
                        return nil
                    } catch let e as GatewayError { return e }
                }, until: { $0 != nil })
                let spent = try await two.chat(capped)
                // A spend counted by replica one alone (its grant missed the store's bound) never
                // reaches the shared windows: the designed fail-open, which voids the premise.
                if TestStack.fallbacks(one, two) == before {
                    #expect(refusal?.code == "insufficient_quota", "\(String(describing: refusal))")
                    #expect(spent.status == 429 && spent.json["error"]?["code"] == "insufficient_quota", "\(spent.status): \(spent.body.prefix(300))")
                }
            }
        }
    }
}

@Suite(.timeLimit(.minutes(3))) struct SharedStoreDownTests {
    /// RPM/TPM fail open to per-replica counting when PostgreSQL cannot be reached (requests keep
    /// flowing, each replica enforcing the limit on its own); spend caps and concurrency are counted
    /// in process and keep failing closed.
    @Test func rateLimitsFailOpenToThisReplicaWhenTheSharedStoreIsDown() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let down = try PostgresStorage(url: "postgres://lucair:lucair@127.0.0.1:1/none", logger: logger)
        let limiter = RateLimiter(shared: down, logger: logger)
        let p = Principal(tenantId: "t", tenantName: "t", keyId: "k", lineageId: "k", role: "tenant",
                          plan: Plan(name: "p", ceiling: .frontier), scopes: KeyScopes(), keyLimits: Limits(rpm: 3),
                          tenantLimits: Limits(dailySpendCapNano: 10), expiresAtMillis: nil)
        let start = ContinuousClock.now, now = RateLimiter.nowMillis()
        let a = try await limiter.admit(p, estimatedTokens: 10, nowMillis: now)
        #expect(ContinuousClock.now - start < .seconds(5))  // bounded wait, not a hang
        #expect(limiter.degraded)
        limiter.settle(a, actualTokens: 10, cost: 4)
        let trips = limiter.sharedRoundTrips.load(ordering: .relaxed)
        // Counted locally, without asking the store again within the second (the clock is passed in).
        let b = try await limiter.admit(p, estimatedTokens: 10, nowMillis: now + 1)
        #expect(limiter.sharedRoundTrips.load(ordering: .relaxed) == trips, "the store was asked again at once")
        limiter.settle(b, actualTokens: 10, cost: 6)
        let third = await #expect(throws: GatewayError.self) { _ = try await limiter.admit(p, estimatedTokens: 10, nowMillis: now + 2) }
        // The tenant's daily cap (10 nano-USD) is spent: that fails closed whatever the store does.
        #expect(third?.code == "insufficient_quota")
        try await down.close()
    }

    /// A replica that admitted 40 of a 60-rpm key through the store and then gets no answer in time
    /// (the key's window row held locked by another session: the store is up, but slow) admits 20
    /// more on its own, not another 60; the store is asked once, then not until it is retried, and
    /// then knows of the 20.
    @Test func countingAloneStartsFromWhatTheStoreAdmittedHere() async throws {
        try await TestStack.awayFromMinuteEdge(needing: 30)
        let shared = try await SharedLimiter.open("alone")
        let limiter = shared.limiter, p = shared.principal(Limits(rpm: 60))
        // Through the store (a grant that misses its deadline on a loaded machine is counted here instead).
        for _ in 0..<40 { limiter.settle(try await limiter.admit(p, estimatedTokens: 1), actualTokens: 1, cost: 0) }
        let fallbacks = shared.fallbacks, storeAsked = !limiter.degraded
        let pg = try #require(shared.store as? PostgresStorage)
        let (held, holding) = AsyncStream.makeStream(of: Void.self)
        let (release, releasing) = AsyncStream.makeStream(of: Void.self)
        let scope = "k:" + shared.lineage
        let locker = Task {
            try await pg.client.withTransaction(logger: pg.logger) { conn in
                try await conn.query("SELECT 1 FROM rate_windows WHERE scope = \(scope) FOR UPDATE", logger: pg.logger)
                holding.yield()
                for await _ in release { break }
            }
        }
        for await _ in held { break }
        let trips = limiter.sharedRoundTrips.load(ordering: .relaxed)
        var admitted = 0
        var refusal: GatewayError?
        while refusal == nil, admitted < 100 {
            do {
                limiter.settle(try await limiter.admit(p, estimatedTokens: 1), actualTokens: 1, cost: 0)
                admitted += 1
            } catch let e as GatewayError { refusal = e }
        }
        #expect(admitted == 20 && refusal?.code == "rate_limit_exceeded", "\(admitted) admitted alone, then \(String(describing: refusal))")
        #expect(shared.fallbacks - fallbacks == 21)  // the refused one was counted here too
        if storeAsked {
            #expect(limiter.sharedRoundTrips.load(ordering: .relaxed) - trips == 1)
        }
        releasing.yield()
        try await locker.value
        // Once the store answers again (the limiter asks it again a second after the third miss), it
        // has been told what was admitted alone: the minute's 60 are gone everywhere.
        try await Task.sleep(for: .milliseconds(1200))
        let asked = limiter.sharedRoundTrips.load(ordering: .relaxed)
        let after = await #expect(throws: GatewayError.self) { _ = try await limiter.admit(p, estimatedTokens: 1) }
        #expect(after?.code == "rate_limit_exceeded" && limiter.sharedRoundTrips.load(ordering: .relaxed) == asked + 1, "\(String(describing: after))")
        let other = try await shared.twin()
        var refusedThere = false
        do { other.limiter.settle(try await other.limiter.admit(p, estimatedTokens: 1), actualTokens: 1, cost: 0) } catch is GatewayError { refusedThere = true }
        // A fresh replica whose first grant misses the bound counts alone from nothing (the fail-open).
        if other.fallbacks == 0 { #expect(refusedThere, "another replica finds the minute spent") }
        try await other.close()
        try await shared.close()
    }
}

import Logging
import LucairCore
@testable import LucairGateway
@testable import LucairStorage

/// A limiter on the shared PostgreSQL store, and a principal with a fresh key lineage on it.
struct SharedLimiter {
    let store: any Storage
    let limiter: RateLimiter
    let lineage: String

    static func open(_ prefix: String) async throws -> SharedLimiter {
        try await open(lineage: "\(prefix)_\(UUID().uuidString.prefix(8))")
    }

    static func open(lineage: String) async throws -> SharedLimiter {
        let url = try #require(ProcessInfo.processInfo.environment["LUCAIR_TEST_POSTGRES_URL"])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = try await StorageFactory.open(url: url, logger: logger)
        try await store.migrate()
        return SharedLimiter(store: store, limiter: RateLimiter(shared: store as? any SharedLimits, logger: logger), lineage: lineage)
    }

    /// A second replica: its own connection and limiter, the same key lineage.
    func twin() async throws -> SharedLimiter { try await SharedLimiter.open(lineage: lineage) }

    var fallbacks: Int { limiter.localFallbacks.load(ordering: .relaxed) }

    /// Sends what is left to settle, then closes the store.
    func close() async throws {
        await limiter.flushSettles()
        try await store.close()
    }

    func principal(_ keyLimits: Limits) -> Principal {
        Principal(tenantId: "ten_\(lineage)", tenantName: "t", keyId: lineage, lineageId: lineage, role: "tenant",
                  plan: Plan(name: "p", ceiling: .frontier), scopes: KeyScopes(), keyLimits: keyLimits,
                  tenantLimits: Limits(), expiresAtMillis: nil)
    }
}

@Suite(.timeLimit(.minutes(3))) struct SharedQuotaOrderTests {
    /// A request refused by a spend cap (counted in process) must not take shared RPM quota.
    @Test func requestsRefusedLocallyDoNotConsumeSharedWindows() async throws {
        let second = Int(Date().timeIntervalSince1970) % 60
        if second > 50 { try await Task.sleep(for: .seconds(61 - second)) }
        let shared = try await SharedLimiter.open("key_order")
        let limiter = shared.limiter
        let capped = shared.principal(Limits(rpm: 3, dailySpendCapNano: 1))
        let a = try await limiter.admit(capped, estimatedTokens: 10)
        limiter.settle(a, actualTokens: 10, cost: 5)  // the cap is spent
        for _ in 0..<5 {
            let e = await #expect(throws: GatewayError.self) { _ = try await limiter.admit(capped, estimatedTokens: 10) }
            #expect(e?.code == "insufficient_quota")
        }
        // Same key without the cap: 2 of its 3 shared requests are left, not 0.
        let free = shared.principal(Limits(rpm: 3))
        _ = try await limiter.admit(free, estimatedTokens: 10)
        _ = try await limiter.admit(free, estimatedTokens: 10)
        let third: GatewayError?
        do { _ = try await limiter.admit(free, estimatedTokens: 10); third = nil } catch let e as GatewayError { third = e }
        // A store that did not answer within its bound (a loaded machine) makes the replica count
        // alone, the designed fail-open; only shared answers show the windows were not consumed.
        if shared.fallbacks == 0 {
            #expect(third?.code == "rate_limit_exceeded")
        }
        try await shared.store.close()
    }
}

@Suite(.timeLimit(.minutes(3))) struct SharedConcurrencyReleaseTests {
    /// A client that waits for each answer before sending the next never has two requests in
    /// flight: with max_concurrent = 1 shared across replicas, none of its requests is refused,
    /// although lease releases reach the shared store in batches.
    @Test func sequentialRequestsAreNeverRefusedByTheirOwnFinishedLease() async throws {
        let shared = try await SharedLimiter.open("key_seq")
        let limiter = shared.limiter
        let p = shared.principal(Limits(maxConcurrent: 1))
        var refused = 0
        let fallbacksBefore = shared.fallbacks
        for _ in 0..<30 {
            do {
                let a = try await limiter.admit(p, estimatedTokens: 10)
                limiter.settle(a, actualTokens: 10, cost: 0)
            } catch let e as GatewayError where e.status == 429 {
                refused += 1
            }
        }
        // A grant that missed its bound (a loaded machine) may commit late and hold its slot until
        // the replica releases it again (`lateGrantRelease`): only without one is every request admitted.
        if shared.fallbacks == fallbacksBefore {
            #expect(refused == 0, "\(refused) of 30 sequential requests refused by their predecessor's lease")
        }
        // And the limit still holds: while one is in flight, a second is refused.
        let held = try await limiter.admit(p, estimatedTokens: 10)
        let fallbacks = shared.fallbacks
        var second: RateLimiter.Admission?
        do { second = try await limiter.admit(p, estimatedTokens: 10) } catch is GatewayError {}
        // Counted alone when the store missed its bound (the fail-open): only the store's answer shows the lease.
        if shared.fallbacks == fallbacks { #expect(second == nil, "a second request was admitted while one was in flight") }
        if let second { limiter.settle(second, actualTokens: 10, cost: 0) }
        limiter.settle(held, actualTokens: 10, cost: 0)
        await limiter.flushSettles()
        try await shared.store.close()
    }
}
