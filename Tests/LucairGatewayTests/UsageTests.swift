import Foundation
import LucairCore
import LucairWire
import Testing

/// `GET /v1/usage`: a tenant's own usage only, filtered by key, model, tier and period, with what
/// the same tokens would have cost on one model throughout.
@Suite(.timeLimit(.minutes(3))) struct UsageTests {
    @Test func tenantsSeeTheirOwnUsageFilteredAndPricedAgainstOneModel() async throws {
        try await TestStack.with { s in
            let a = try await s.tenant("team-a"), b = try await s.tenant("team-b")
            for (key, model) in [(a.user, "lucair/baseline"), (a.user, "lucair/baseline"), (a.user, "lucair/fast"), (b.user, "lucair/fast")] {
                let r = try await s.send("POST", "/v1/chat/completions", ["model": .string(model), "messages": [["role": "user", "content": "hi"]]], key: key)
                #expect(r.status == 200)
            }
            await s.gateway.usage.flush()
            let all = try await s.send("GET", "/v1/usage", key: a.user)
            #expect(all.status == 200 && all.json["tenant_id"]?.stringValue == a.id, "\(all.body)")
            let rows = all.json["data"]?.arrayValue ?? []
            #expect(rows.reduce(0) { $0 + ($1["requests"]?.intValue ?? 0) } == 3, "team B's request is not here")
            let total = try #require(all.json["total_cost_nano_usd"]?.intValue)
            let haiku = try #require(all.json["if_served_by"]?["claude-haiku-4-5"]?["cost_nano_usd"]?.intValue)
            #expect(total > 0 && haiku > total, "all-Haiku costs more than a mix with local requests")
            let fast = try await s.send("GET", "/v1/usage?tier=fast", key: a.user)
            #expect(fast.json["data"]?.arrayValue?.count == 1 && fast.json["data"]?[0]?["model"]?.stringValue == "claude-haiku-4-5")
            let byModel = try await s.send("GET", "/v1/usage?model=ministral-8b", key: a.user)
            #expect(byModel.json["data"]?[0]?["requests"]?.intValue == 2)
            let byKey = try await s.send("GET", "/v1/usage?key=\(a.userLineage)", key: a.user)
            #expect(byKey.json["data"]?.arrayValue?.count == 2)
            let otherKey = try await s.send("GET", "/v1/usage?key=\(b.userLineage)", key: a.user)
            #expect(otherKey.json["data"]?.arrayValue?.isEmpty == true, "another tenant's key filters to nothing")
            let future = try await s.send("GET", "/v1/usage?from=\(Int(Date().timeIntervalSince1970) + 3600)", key: a.user)
            #expect(future.json["data"]?.arrayValue?.isEmpty == true)
            let bad = try await s.send("GET", "/v1/usage?from=yesterday", key: a.user)
            #expect(bad.status == 400 && bad.json["error"]?["param"]?.stringValue == "from")
        }
    }
}

extension JSONValue {
    subscript(index: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }
}
