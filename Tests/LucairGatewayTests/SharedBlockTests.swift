import Foundation
import LucairCore
@testable import LucairGateway
import Testing

/// Quota taken in blocks from the shared store (PostgreSQL): requests served without a round trip,
/// and still never more than a limit across replicas.
@Suite(.timeLimit(.minutes(3))) struct SharedBlockTests {
    @Test func aLargeLimitIsServedFromBlocksWithoutARoundTripPerRequest() async throws {
        try await TestStack.awayFromMinuteEdge(needing: 10)
        let shared = try await SharedLimiter.open("key_block")
        let p = shared.principal(Limits(rpm: 6_400, tpm: 64_000_000))  // blocks of 100 requests and 1M tokens
        for _ in 0..<100 {
            let a = try await shared.limiter.admit(p, estimatedTokens: 1_200)
            shared.limiter.settle(a, actualTokens: 900, cost: 0)
        }
        // One request asked the store (for a block); the other 99 were served from it.
        #expect(shared.limiter.sharedRoundTrips.load(ordering: .relaxed) == 1)
        #expect(shared.fallbacks == 0)
        try await shared.store.close()
    }

    @Test func blocksNeverAdmitMoreThanTheLimitAcrossReplicas() async throws {
        try await TestStack.awayFromMinuteEdge(needing: 20)
        let one = try await SharedLimiter.open("key_blocks2")
        let two = try await one.twin()
        let p = one.principal(Limits(rpm: 640))  // blocks of 10
        // 400 requests on each replica, 16 at a time on each.
        func load(_ l: RateLimiter) async -> Int {
            await withTaskGroup(of: Int.self) { g in
                for w in 0..<16 {
                    g.addTask {
                        var admitted = 0
                        for _ in 0..<25 {
                            if let a = try? await l.admit(p, estimatedTokens: 10) { admitted += 1; l.settle(a, actualTokens: 10, cost: 0) }
                        }
                        _ = w
                        return admitted
                    }
                }
                return await g.reduce(0, +)
            }
        }
        async let a = load(one.limiter)
        async let b = load(two.limiter)
        let admitted = await a + b
        let trips = one.limiter.sharedRoundTrips.load(ordering: .relaxed) + two.limiter.sharedRoundTrips.load(ordering: .relaxed)
        if one.fallbacks + two.fallbacks == 0 {
            // Never above the limit; short of it by at most what each replica holds unused at the end.
            #expect(admitted <= 640 && admitted >= 640 - 2 * 2 * 10, "\(admitted) admitted")
        }
        #expect(trips < 400, "\(trips) round trips for \(admitted) admissions")
        try await one.store.close()
        try await two.store.close()
    }

    @Test func concurrencySlotsAreKeptForReuseAndIdleOnesGoBackToOtherReplicas() async throws {
        let one = try await SharedLimiter.open("key_slots")
        let two = try await one.twin()
        let p = one.principal(Limits(maxConcurrent: 128))  // keeps 2 idle slots
        var held: [RateLimiter.Admission] = []
        for _ in 0..<128 { held.append(try await one.limiter.admit(p, estimatedTokens: 10)) }
        let busy = await #expect(throws: GatewayError.self) { _ = try await two.limiter.admit(p, estimatedTokens: 10) }
        #expect(busy?.message.contains("across all replicas") == true)
        for a in held { one.limiter.settle(a, actualTokens: 10, cost: 0) }
        // Idle for 20 ms, then the batch (5 ms) gives all but the 2 kept slots back.
        try await Task.sleep(for: .milliseconds(300))
        var onTwo: [RateLimiter.Admission] = []
        for _ in 0..<126 { onTwo.append(try await two.limiter.admit(p, estimatedTokens: 10)) }
        await #expect(throws: GatewayError.self) { _ = try await two.limiter.admit(p, estimatedTokens: 10) }
        // Replica one still holds its 2: taken without asking the store.
        let before = one.limiter.sharedRoundTrips.load(ordering: .relaxed)
        let kept = [try await one.limiter.admit(p, estimatedTokens: 10), try await one.limiter.admit(p, estimatedTokens: 10)]
        #expect(one.limiter.sharedRoundTrips.load(ordering: .relaxed) == before)
        await #expect(throws: GatewayError.self) { _ = try await one.limiter.admit(p, estimatedTokens: 10) }
        for a in kept { one.limiter.settle(a, actualTokens: 10, cost: 0) }
        for a in onTwo { two.limiter.settle(a, actualTokens: 10, cost: 0) }
        await one.limiter.flushSettles()
        await two.limiter.flushSettles()
        try await one.store.close()
        try await two.store.close()
    }

    @Test func anotherReplicasSpendIsSeenWithinTheFreshnessBound() async throws {
        let one = try await SharedLimiter.open("key_spend")
        let two = try await one.twin()
        let p = one.principal(Limits(dailySpendCapNano: 1_000))
        let first = try await two.limiter.admit(p, estimatedTokens: 10)  // replica two reads the spend: 0
        two.limiter.settle(first, actualTokens: 10, cost: 0)
        let a = try await one.limiter.admit(p, estimatedTokens: 10)
        one.limiter.settle(a, actualTokens: 10, cost: 5_000)  // over the cap
        await one.limiter.flushSettles()
        try await Task.sleep(for: .milliseconds(Int(QuotaPool.spendFreshMillis) + 50))
        let e = await #expect(throws: GatewayError.self) { _ = try await two.limiter.admit(p, estimatedTokens: 10) }
        #expect(e?.code == "insufficient_quota")
        try await one.store.close()
        try await two.store.close()
    }
}
