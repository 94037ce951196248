import Foundation
import LucairCore
import LucairWire
import Testing

@testable import LucairGateway

/// Serving under faults, against the fakes: breakers skip a dead deployment and probe it again,
/// a 429's retry-after keeps a deployment aside, a saturated local engine spills up to Fast within
/// the wait bound, and spilling never passes the plan's ceiling or the key's scopes.
@Suite(.timeLimit(.minutes(3))) struct ServeTests {
    /// Baseline: `dead-local` (nothing listens) and `fake-local`, or `fake-local` with one slot.
    static let twoLocals = TestStack.tweak { _ in
        """
        [serve]
        breaker_failures = 2
        breaker_cool_down_ms = 2000
        [[tiers.baseline.deployments]]
        name = "dead-local"
        kind = "openai_compatible"
        url = "http://127.0.0.1:1/v1"
        model = "ministral-8b"
        """
    }

    static let oneSlot = TestStack.tweak(inside: "capacity = 1") { _ in "[serve]\nspill_wait_ms = 50" }

    func breaker(_ s: TestStack, _ name: String) -> String? {
        s.gateway.health.snapshot().first { $0.name == name }?.state
    }

    /// Waits (up to 5 s) until `fake-local`'s only slot is taken, so a loaded machine cannot race it.
    func slotTaken(_ s: TestStack) async throws {
        for _ in 0..<100 {
            if s.gateway.health.snapshot().first(where: { $0.name == "fake-local" })?.outstanding == 1 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the slow request never took the slot")
    }

    @Test func aDeadDeploymentIsSkippedOnceItsBreakerOpensAndProbedAfterTheCoolDown() async throws {
        try await TestStack.with(tweak: Self.twoLocals) { s in
            // Two connection failures open it (seen after some request, however slow the machine).
            var sawOpen = false
            for _ in 0..<12 {
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"))
                #expect(r.status == 200 && r.headers["x-lucair-deployment"] == "fake-local")
                sawOpen = sawOpen || breaker(s, "dead-local") == "open"
            }
            #expect(sawOpen)
            #expect(s.gateway.health.snapshot().first { $0.name == "dead-local" }?.outstanding == 0)
            // The cool-down (2 s) ends: due for a probe.
            var state = breaker(s, "dead-local")
            for _ in 0..<120 where state == "open" {
                try await Task.sleep(for: .milliseconds(50))
                state = breaker(s, "dead-local")
            }
            #expect(state == "half_open")
            // Probes go to it one at a time; it fails again and opens again. Clients never notice.
            var reopened = false
            for _ in 0..<6 {
                #expect(try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi")).status == 200)
                reopened = reopened || breaker(s, "dead-local") == "open"
            }
            #expect(reopened)
            #expect(breaker(s, "fake-local") == "closed")
        }
    }

    @Test func aRetryAfterKeepsADeploymentAsideAndRecoveryClosesIt() async throws {
        // Two Baseline deployments on the fake; only `ministral-8b-b` answers 429 with retry-after.
        let tweak = TestStack.tweak { port in "[serve]\nbreaker_cool_down_ms = 300\n" + TestStack.twin("fake-local-b", upstream: "ministral-8b-b", port: port) }
        try await TestStack.with(tweak: tweak) { s in
            var served: [String] = []
            for _ in 0..<8 {
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "x [fake status=429 retry_after=1 only=ministral-8b-b]"))
                #expect(r.status == 200, "\(r.body)")  // the other deployment answers: no client-visible 429
                served.append(r.headers["x-lucair-deployment"] ?? "")
            }
            #expect(Set(served) == ["fake-local"])
            #expect(breaker(s, "fake-local-b") != "closed")  // open, or due for its probe on a slow machine
            try await Task.sleep(for: .milliseconds(1100))  // retry-after passed: probed, and this time it answers
            var recovered = false
            for _ in 0..<10 where !recovered {
                _ = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"))
                recovered = breaker(s, "fake-local-b") == "closed"
            }
            #expect(recovered)
        }
    }

    @Test func aSaturatedLocalEngineSpillsToFastWithinTheBound() async throws {
        try await TestStack.with(tweak: Self.oneSlot) { s in
            // The only local slot is taken by a slow stream.
            let slow = Task { try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "x [fake chunks=100 chunk_delay_ms=50]", stream: true)) }
            try await slotTaken(s)
            let start = ContinuousClock.now
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"))
            let took = ContinuousClock.now - start
            #expect(r.status == 200)
            #expect(r.headers["x-lucair-tier"] == "fast" && r.headers["x-lucair-deployment"] == "fake-haiku")
            #expect(r.headers["x-lucair-route-reason"]?.contains("spilled_from_baseline") == true, "\(r.headers)")
            #expect(took < .milliseconds(4000), "waited \(took): for the slow stream (5 s), not the 50 ms bound")
            // Billed at the tier that served it.
            let rec = try #require(try await s.record(r.headers["x-lucair-request-id"]!))
            #expect(rec.tier == "fast" && rec.model == "claude-haiku-4-5" && rec.spilledFrom == "baseline")
            #expect(try await slow.value.status == 200)
            // The slot is free again: local first.
            let after = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"))
            #expect(after.headers["x-lucair-tier"] == "baseline")
            let metrics = try await s.get("/metrics", key: nil).body
            let spills = metrics.split(separator: "\n").filter { $0.hasPrefix("lucair_spills_total{") }
            #expect(spills.contains { $0.contains("from=\"baseline\"") && $0.contains("to=\"fast\"") && $0.contains("reason=\"deployments_busy\"") && $0.hasSuffix(" 1") }, "\(spills)")
        }
    }

    @Test func aSlotFreedWithinTheBoundIsTakenInsteadOfSpilling() async throws {
        // A 3 s bound for a 100 ms request, so that a loaded test machine cannot turn the wait into
        // a spill (1 s was once not enough with the whole suite running on two cores).
        let patient = TestStack.tweak(inside: "capacity = 1") { _ in "[serve]\nspill_wait_ms = 3000" }
        try await TestStack.with(tweak: patient) { s in
            let short = Task { try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "x [fake latency_ms=100]")) }
            try await Task.sleep(for: .milliseconds(30))
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"))
            #expect(r.status == 200 && r.headers["x-lucair-tier"] == "baseline", "\(r.headers)")
            #expect(try await short.value.status == 200)
        }
    }

    @Test func spillingNeverPassesThePlansCeiling() async throws {
        // A plan whose ladder stops at Baseline: its busy requests wait, then 503; never Fast.
        let tweak = TestStack.tweak(inside: "capacity = 1") { _ in "[serve]\nspill_wait_ms = 50\n[plans.local]\nceiling = \"baseline\"" }
        try await TestStack.with(tweak: tweak) { s in
            let t = try await s.tenant("local-plan", plan: "local")
            try await Task.sleep(for: .milliseconds(400))
            let slow = Task { try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "x [fake chunks=60 chunk_delay_ms=50]", stream: true), key: t.user) }
            try await slotTaken(s)
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "hi"), key: t.user)
            #expect(r.status == 503 && r.json["error"]?["code"]?.stringValue == "deployments_busy", "\(r.body)")
            #expect(try await slow.value.status == 200)
            let rec = try #require(try await s.record(r.headers["x-lucair-request-id"] ?? ""), "the refusal is recorded too")
            #expect(rec.tier == "baseline" && rec.spilledFrom == nil)
        }
    }

    @Test func spillingNeverPassesTheKeysReach() async throws {
        try await TestStack.with(tweak: Self.oneSlot) { s in
            let t = try await s.tenant("local-only")
            let minted = try await s.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["scopes": ["tiers": ["baseline"]]], key: TestStack.adminKey)
            let narrow = try #require(minted.json["key"]?.stringValue)
            try await Task.sleep(for: .milliseconds(400))
            let slow = Task { try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "x [fake chunks=60 chunk_delay_ms=50]", stream: true), key: narrow) }
            try await slotTaken(s)
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"), key: narrow)
            #expect(r.status == 503 && r.json["error"]?["code"]?.stringValue == "deployments_busy", "\(r.body)")
            #expect(r.headers["retry-after"] == "1")
            #expect(try await slow.value.status == 200)
            // A concrete model is served by its deployments only: busy is an answer, not a spill.
            let slow2 = Task { try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "x [fake chunks=60 chunk_delay_ms=50]", stream: true)) }
            try await slotTaken(s)
            let explicit = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "ministral-8b", content: "hi"))
            #expect(explicit.status == 503)
            #expect(try await slow2.value.status == 200)
        }
    }

    /// `fake-local-b` waits at most 300 ms for a stream's head and 400 ms between bytes.
    static let impatient = TestStack.tweak { port in
        TestStack.twin("fake-local-b", upstream: "ministral-8b-b", port: port, extra: "first_byte_timeout_ms = 300\nidle_timeout_ms = 400")
    }

    @Test func aSlowFirstByteFallsThroughAndAStalledStreamEndsCleanly() async throws {
        try await TestStack.with(tweak: Self.impatient) { s in
            // A head that takes 6 s on `fake-local-b`: cut at 300 ms, the other deployment answers.
            for _ in 0..<3 {
                let start = ContinuousClock.now
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "x [fake latency_ms=6000 only=ministral-8b-b]", stream: true))
                #expect(r.status == 200 && r.headers["x-lucair-deployment"] == "fake-local", "\(r.headers)")
                #expect(ContinuousClock.now - start < .milliseconds(5000))  // not the 6 s head (room for a loaded machine)
            }
            let metrics = try await s.get("/metrics", key: nil).body
            #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("lucair_upstream_errors_total{") && $0.contains("fake-local-b") && $0.contains("upstream_timeout") }, "\(metrics.split(separator: "\n").filter { $0.contains("upstream_errors") })")
            // Only `fake-local-b` in play (the other one drained): a stream that stalls for 1 s after
            // its first chunk ends with an error event after 400 ms, and what was delivered is metered.
            s.gateway.health.setDraining(["fake-local"], true)
            try await Task.sleep(for: .milliseconds(500))  // b's breaker: past its cool-down or still closed
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "ministral-8b", content: "x [fake chunks=3 chunk_delay_ms=1000 only=ministral-8b-b]", stream: true))
            #expect(r.status == 200)
            let events = TestStack.events(r.body)
            #expect(events.contains { $0.contains("\"error\"") } && events.last == "[DONE]", "\(events)")
            let rec = try #require(try await s.record(r.headers["x-lucair-request-id"]!))
            #expect(rec.status >= 500 && rec.estimated && rec.deployment == "fake-local-b")
        }
    }

    @Test func anOverloaded529MovesToTheNextDeploymentWithoutClientVisibleErrors() async throws {
        let tweak = TestStack.tweak(before: "fake-haiku", tier: "fast") { port in TestStack.twin("fake-haiku-b", tier: "fast", upstream: "claude-haiku-4-5-b", port: port) }
        try await TestStack.with(tweak: tweak) { s in
            for stream in [false, true, false, true] {
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/fast", content: "x [fake status=529 retry_after=5 only=claude-haiku-4-5-b]", stream: stream))
                #expect(r.status == 200 && r.headers["x-lucair-deployment"] == "fake-haiku", "\(r.body)")
            }
            #expect(breaker(s, "fake-haiku-b") == "open")
        }
    }

    @Test func anEngineThatQueuesTakesNoNewRequestsAndItsSlotsBecomeTheCapacity() async throws {
        let quick = TestStack.tweak { _ in "[serve]\nsignals_poll_ms = 100" }
        try await TestStack.with(tweak: quick) { s in
            func fake(_ body: JSONValue) async throws { _ = try await s.post("/_fake/engine", body.jsonString, key: nil, base: s.fakeURL) }
            // The engine reports 2 slots (llama.cpp's /slots): that becomes fake-local's capacity.
            try await fake(["slots": 2])
            var capacity: Int?
            for _ in 0..<40 where capacity != 2 {
                try await Task.sleep(for: .milliseconds(50))
                capacity = s.gateway.health.snapshot().first { $0.name == "fake-local" }?.capacity
            }
            #expect(capacity == 2)
            // It starts deferring requests (llama.cpp's /metrics): new ones go to Fast at once.
            func engineBusy(_ want: Bool) async throws -> Bool {
                for _ in 0..<60 {
                    if s.gateway.health.snapshot().first(where: { $0.name == "fake-local" })?.engineBusy == want { return true }
                    try await Task.sleep(for: .milliseconds(50))
                }
                return false
            }
            try await fake(["deferred": 3])
            #expect(try await engineBusy(true))
            let spilled = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"))
            #expect(spilled.status == 200 && spilled.headers["x-lucair-tier"] == "fast", "\(spilled.headers)")
            try await fake(["deferred": 0])
            #expect(try await engineBusy(false))
            let back = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"))
            #expect(back.headers["x-lucair-tier"] == "baseline")
        }
    }
}
