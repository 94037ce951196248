import AsyncHTTPClient
import Foundation
import HTTPTypes
import LucairCore
@testable import LucairGateway
import LucairWire
import NIOCore
import Testing

extension TestStack {
    func send(_ method: String, _ path: String, _ body: JSONValue? = nil, key: String?, headers: [String: String] = [:]) async throws -> Reply {
        var req = HTTPClientRequest(url: url + path)
        req.method = .init(rawValue: method)
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let key { req.headers.add(name: "authorization", value: "Bearer \(key)") }
        if let body {
            req.headers.add(name: "content-type", value: "application/json")
            req.body = .bytes(ByteBuffer(bytes: body.serialized()))
        }
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let bytes = try await r.body.collect(upTo: 16 << 20)
        var h: [String: String] = [:]
        for f in r.headers { h[f.name.lowercased()] = f.value }
        return Reply(status: Int(r.status.code), headers: h, body: String(buffer: bytes))
    }

    /// Creates a tenant and mints keys through the admin API with the operator key.
    func tenant(_ name: String, plan: String = "enterprise", kind: String = "internal", limits: JSONValue? = nil) async throws -> (id: String, admin: String, user: String, userLineage: String) {
        var body: JSONValue = ["name": .string(name), "kind": .string(kind), "plan": .string(plan)]
        if let limits { body["limits"] = limits }
        let t = try await send("POST", "/admin/v1/tenants", body, key: Self.adminKey)
        #expect(t.status == 201, "\(t.body)")
        let id = try #require(t.json["id"]?.stringValue)
        let admin = try await send("POST", "/admin/v1/tenants/\(id)/keys", ["name": "admin", "role": "tenant_admin"], key: Self.adminKey)
        let user = try await send("POST", "/admin/v1/tenants/\(id)/keys", ["name": "app"], key: Self.adminKey)
        return (id, try #require(admin.json["key"]?.stringValue), try #require(user.json["key"]?.stringValue), try #require(user.json["lineage_id"]?.stringValue))
    }

    func chat(_ key: String, model: String = "auto", maxTokens: Int? = nil) async throws -> Reply {
        var body: JSONValue = ["model": .string(model), "messages": [["role": "user", "content": "hi"]]]
        if let maxTokens { body["max_tokens"] = .int(maxTokens) }
        return try await send("POST", "/v1/chat/completions", body, key: key)
    }
}

@Suite(.timeLimit(.minutes(3))) struct TenancyTests {
    static let plansTOML = """
        [plans.tiny]
        ceiling = "baseline"
        rpm = 1000
        """
    static func planTweak(_ t: String, _ port: Int) -> String {
        t.replacingOccurrences(of: "[[tiers.baseline.deployments]]", with: plansTOML + "\n[[tiers.baseline.deployments]]")
    }
    let tweak = planTweak

    @Test func mintedKeysWorkAndAreShownOnlyOnce() async throws {
        try await TestStack.with(tweak: tweak) { s in
            let a = try await s.tenant("acme")
            #expect(try await s.chat(a.user).status == 200)
            let list = try await s.send("GET", "/admin/v1/tenants/\(a.id)/keys", key: a.admin)
            #expect(list.status == 200)
            #expect(!list.body.contains(a.user) && !list.body.contains(APIKeys.hash(a.user)))  // neither the key nor its hash
            #expect(list.json["data"]?.arrayValue?.count == 2)
        }
    }

    @Test func tenantIsolationMatrix() async throws {
        try await TestStack.with(tweak: tweak) { s in
            let a = try await s.tenant("tenant-a")
            let b = try await s.tenant("tenant-b")
            _ = try await s.chat(b.user)  // so B has usage to leak
            let paths: [(String, String, JSONValue?)] = [
                ("GET", "/admin/v1/tenants/\(b.id)", nil),
                ("GET", "/admin/v1/tenants/tenant-b", nil),
                ("PATCH", "/admin/v1/tenants/\(b.id)", ["plan": "starter"]),
                ("GET", "/admin/v1/tenants/\(b.id)/keys", nil),
                ("POST", "/admin/v1/tenants/\(b.id)/keys", ["name": "x"]),
                ("PATCH", "/admin/v1/tenants/\(b.id)/keys/\(b.userLineage)", ["limits": ["rpm": 1]]),
                ("POST", "/admin/v1/tenants/\(b.id)/keys/\(b.userLineage)/rotate", ["grace_seconds": 0]),
                ("POST", "/admin/v1/tenants/\(b.id)/keys/\(b.userLineage)/revoke", nil),
                ("GET", "/admin/v1/tenants/\(b.id)/usage", nil),
                // B's key named under A's tenant: still not found.
                ("POST", "/admin/v1/tenants/\(a.id)/keys/\(b.userLineage)/revoke", nil),
            ]
            for (method, path, body) in paths {
                for key in [a.admin, a.user] {
                    let r = try await s.send(method, path, body, key: key)
                    #expect([403, 404].contains(r.status), "\(method) \(path) → \(r.status)")
                    #expect(!r.body.contains(b.id) && !r.body.contains("tenant-b") && !r.body.contains(b.userLineage), "\(method) \(path) leaked: \(r.body)")
                    #expect(r.json["error"]?["message"]?.stringValue != nil)
                }
            }
            // A's admin sees only A.
            let list = try await s.send("GET", "/admin/v1/tenants", key: a.admin)
            #expect(list.json["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [a.id])
            // B's key still works: nothing above changed it.
            #expect(try await s.chat(b.user).status == 200)
        }
    }

    @Test func rotationKeepsTheOldKeyForItsGraceWindowAndRevocationEndsBoth() async throws {
        try await TestStack.with(tweak: tweak) { s in
            let a = try await s.tenant("rotor")
            let rotated = try await s.send("POST", "/admin/v1/tenants/\(a.id)/keys/\(a.userLineage)/rotate", ["grace_seconds": 60], key: a.admin)
            #expect(rotated.status == 201)
            let newKey = try #require(rotated.json["key"]?.stringValue)
            #expect(rotated.json["lineage_id"]?.stringValue == a.userLineage)
            #expect(try await s.chat(a.user).status == 200)  // inside the grace window
            #expect(try await s.chat(newKey).status == 200)
            let noGrace = try await s.send("POST", "/admin/v1/tenants/\(a.id)/keys/\(a.userLineage)/rotate", ["grace_seconds": 0], key: a.admin)
            let newest = try #require(noGrace.json["key"]?.stringValue)
            #expect(try await s.chat(newKey).status == 401)  // its grace was zero
            let revoked = try await s.send("POST", "/admin/v1/tenants/\(a.id)/keys/\(a.userLineage)/revoke", key: a.admin)
            #expect(revoked.status == 200 && revoked.json["status"] == "revoked")
            for k in [a.user, newKey, newest] { #expect(try await s.chat(k).status == 401) }
        }
    }

    @Test func planCeilingAndKeyScopesRefuseClearly() async throws {
        try await TestStack.with(tweak: tweak) { s in
            let tiny = try await s.tenant("tiny-co", plan: "tiny")
            #expect(try await s.chat(tiny.user, model: "auto").status == 200)
            let above = try await s.chat(tiny.user, model: "lucair/fast")
            #expect(above.status == 403 && above.json["error"]?["code"] == "model_not_allowed")
            #expect(above.json["error"]?["message"]?.stringValue?.contains("baseline") == true)
            let scoped = try await s.send("POST", "/admin/v1/tenants/\(tiny.id)/keys",
                                          ["scopes": ["endpoints": ["models"]]], key: TestStack.adminKey)
            let sk = try #require(scoped.json["key"]?.stringValue)
            #expect(try await s.send("GET", "/v1/models", key: sk).status == 200)
            let denied = try await s.chat(sk)
            #expect(denied.status == 403 && denied.json["error"]?["code"] == "endpoint_not_allowed")
            let ipKey = try #require(try await s.send("POST", "/admin/v1/tenants/\(tiny.id)/keys",
                                                      ["scopes": ["ip_allow_list": ["10.0.0.0/8"]]], key: TestStack.adminKey).json["key"]?.stringValue)
            #expect(try await s.chat(ipKey).json["error"]?["code"] == "ip_not_allowed")
            let local = try #require(try await s.send("POST", "/admin/v1/tenants/\(tiny.id)/keys",
                                                      ["scopes": ["ip_allow_list": ["127.0.0.0/8", "::1"]]], key: TestStack.adminKey).json["key"]?.stringValue)
            #expect(try await s.chat(local).status == 200)
            let bad = try await s.send("POST", "/admin/v1/tenants/\(tiny.id)/keys", ["scopes": ["tiers": ["platinum"]]], key: TestStack.adminKey)
            #expect(bad.status == 400 && bad.json["error"]?["param"] == "scopes.tiers")
        }
    }

    /// A key's and its tenant's limits name the same headers: an answer carries each once, from
    /// the scope with fewer left (the one that refuses first), as the answer writes them.
    @Test func keyAndTenantLimitsGiveOneHeaderPerName() async throws {
        let limiter = RateLimiter()
        let p = Principal(tenantId: "ten_h", tenantName: "t", keyId: "key_h", lineageId: "key_h", role: "tenant",
                          plan: Plan(name: "p", ceiling: .frontier), scopes: KeyScopes(), keyLimits: Limits(rpm: 10, tpm: 1000),
                          tenantLimits: Limits(rpm: 20, tpm: 2000), expiresAtMillis: nil)
        let a = try await limiter.admit(p, estimatedTokens: 10)
        let names = a.limits.pairs.map { $0.0 }
        #expect(names.count == 6 && Set(names).count == 6, "\(a.limits.pairs)")
        #expect(Set(a.limits.pairs.filter { $0.0.hasPrefix("x-ratelimit-limit-") }.map { $0.1 }) == ["10", "1000"])  // the key's: fewer left
        var lines = HeaderLines()
        a.limits.write(into: &lines)
        #expect(lines.fields.count == 6 && lines.fields[HTTPField.Name("x-ratelimit-remaining-requests")!] == "9")
    }

    @Test func rateLimitsAnswer429WithOpenAIHeaders() async throws {
        try await TestStack.with(tweak: tweak) { s in
            let t = try await s.tenant("limited")
            let k = try #require(try await s.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["limits": ["rpm": 3]], key: TestStack.adminKey).json["key"]?.stringValue)
            try await TestStack.awayFromMinuteEdge()
            var statuses: [Int] = []
            var last: TestStack.Reply?
            for _ in 0..<4 {
                let r = try await s.chat(k)
                statuses.append(r.status)
                last = r
            }
            #expect(statuses == [200, 200, 200, 429])
            #expect(last?.json["error"]?["code"] == "rate_limit_exceeded")
            #expect(last?.headers["x-ratelimit-limit-requests"] == "3" && last?.headers["x-ratelimit-remaining-requests"] == "0")
            #expect(Int(last?.headers["retry-after"] ?? "") ?? 0 >= 1)
            #expect(last?.headers["x-ratelimit-reset-requests"]?.hasSuffix("s") == true)
            // Tokens per minute: a request whose max_tokens alone exceeds the budget is refused before forwarding.
            let tk = try #require(try await s.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["limits": ["tpm": 500]], key: TestStack.adminKey).json["key"]?.stringValue)
            let before = s.stats.requests
            let big = try await s.chat(tk, maxTokens: 1000)
            #expect(big.status == 429 && big.headers["x-ratelimit-limit-tokens"] == "500")
            #expect(s.stats.requests == before)
            let ok = try await s.chat(tk, maxTokens: 50)
            #expect(ok.status == 200 && ok.headers["x-ratelimit-limit-tokens"] == "500")
        }
    }

    @Test func spendCapsFailClosedAndSurviveRotation() async throws {
        try await TestStack.with(tweak: tweak) { s in
            let t = try await s.tenant("thrifty")
            // 1 nano-USD: the first request's cost uses it up.
            let minted = try await s.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["limits": ["daily_spend_cap_nano_usd": 1]], key: TestStack.adminKey)
            let k = try #require(minted.json["key"]?.stringValue)
            let lineage = try #require(minted.json["lineage_id"]?.stringValue)
            #expect(try await s.chat(k).status == 200)
            let spent = try await s.chat(k)
            #expect(spent.status == 429 && spent.json["error"]?["code"] == "insufficient_quota" && spent.json["error"]?["type"] == "insufficient_quota")
            let rotated = try #require(try await s.send("POST", "/admin/v1/tenants/\(t.id)/keys/\(lineage)/rotate", ["grace_seconds": 0], key: TestStack.adminKey).json["key"]?.stringValue)
            #expect(try await s.chat(rotated).json["error"]?["code"] == "insufficient_quota")  // the window belongs to the lineage
            // Usage is readable per tenant and attributes the cost to the lineage.
            await s.gateway.usage.flush()
            let usage = try await s.send("GET", "/admin/v1/tenants/\(t.id)/usage", key: TestStack.adminKey)
            #expect(usage.json["data"]?.arrayValue?.first?["key_id"]?.stringValue == lineage)
            #expect(usage.json["data"]?.arrayValue?.first?["requests"] == 1)
        }
    }

    @Test func concurrencyLimitHoldsWhileAStreamIsOpen() async throws {
        try await TestStack.with(tweak: tweak) { s in
            let t = try await s.tenant("narrow")
            let k = try #require(try await s.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["limits": ["max_concurrent": 1]], key: TestStack.adminKey).json["key"]?.stringValue)
            try await Task.sleep(for: .milliseconds(400))  // the new key reaches the key ring
            let slow = Task { try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "x [fake chunks=40 chunk_delay_ms=50]", stream: true), key: k) }
            // Until the stream is upstream (it holds the key's one slot), however loaded the machine.
            for _ in 0..<100 where s.gateway.health.snapshot().allSatisfy({ $0.outstanding == 0 }) { try await Task.sleep(for: .milliseconds(50)) }
            let second = try await s.chat(k)
            #expect(second.status == 429 && second.json["error"]?["code"] == "rate_limit_exceeded")
            #expect(try await slow.value.status == 200)
            #expect(try await s.chat(k).status == 200)  // the slot was released
        }
    }
}
