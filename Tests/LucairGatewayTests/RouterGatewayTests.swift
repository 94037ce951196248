import Foundation
import LucairCore
import LucairWire
import Testing

/// `model: "auto"` end to end: the decision is explained, `/v1/route` answers without serving,
/// plans and scopes bound it, explicit models bypass it.
@Suite(.timeLimit(.minutes(3))) struct RouterGatewayTests {
    static let summary = "Summarize this article in two sentences: The city council met on Tuesday to discuss next year's budget. Members argued about funding for parks, roads and the library."
    static let hardMath = "A tank fills at 12 liters per minute and drains at 4 liters per minute through one pipe and 3 through another. It starts 1/4 full of its 960 liter capacity. After 20 minutes the first drain closes. How many minutes in total until it is full? Explain each step."

    @Test func autoExplainsItsDecisionInHeadersAndBody() async throws {
        try await TestStack.with { s in
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: Self.summary))
            #expect(r.status == 200, "\(r.body)")
            #expect(r.headers["x-lucair-tier"] == "baseline")
            #expect(r.headers["x-lucair-route-task"] == "summarize")
            #expect(r.headers["x-lucair-route-reason"]?.hasPrefix("bar_cleared") == true)
            #expect(r.headers["x-lucair-router-version"] == "router-v1")
            let score = try #require(r.headers["x-lucair-route-score"].flatMap(Double.init))
            let confidence = try #require(r.headers["x-lucair-route-confidence"].flatMap(Double.init))
            let p = try #require(r.headers["x-lucair-route-p-tier-ok"].flatMap(Double.init))
            let bar = try #require(r.headers["x-lucair-route-quality-bar"].flatMap(Double.init))
            #expect((0...1).contains(confidence) && p >= bar && bar == 0.7)  // the operator's enterprise plan
            let route = try #require(r.json["lucair"]?["route"])
            #expect(route["tier"]?.stringValue == "baseline")
            #expect(route["assessment"]?["score"]?.doubleValue == score)
            #expect(route["assessment"]?["task"]?.stringValue == "summarize")
            let metrics = try await s.get("/metrics", key: nil).body
            #expect(metrics.contains(#"lucair_route_decisions_total{tier="baseline",task="summarize",escalated="false"} 1"#))
            // Streaming carries the same headers.
            let st = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: Self.summary, stream: true))
            #expect(st.status == 200 && st.headers["x-lucair-route-score"] == r.headers["x-lucair-route-score"])
        }
    }

    @Test func routeExplainsWithoutServing() async throws {
        try await TestStack.with { s in
            let before = s.stats.requests
            let r = try await s.post("/v1/route", #"{"messages":[{"role":"user","content":"\#(Self.hardMath)"}]}"#)
            #expect(r.status == 200, "\(r.body)")
            #expect(r.json["object"]?.stringValue == "lucair.route")
            #expect(r.json["assessment"]?["task"]?.stringValue == "math")
            // Frontier wanted, Fast is the highest tier configured here.
            #expect(r.json["tier"]?.stringValue == "fast")
            #expect(r.json["reasons"]?.arrayValue?.contains("nearest_allowed_tier") == true)
            #expect(r.json["deployments"]?.arrayValue?.isEmpty == false)
            #expect(s.stats.requests == before, "nothing is forwarded")
            let bad = try await s.post("/v1/route", #"{"model":"lucair/fast","messages":[{"role":"user","content":"x"}]}"#)
            #expect(bad.status == 400 && bad.json["error"]?["param"]?.stringValue == "model")
        }
    }

    @Test func theQualityBarComesFromTheHeaderTheKeyOrThePlan() async throws {
        try await TestStack.with { s in
            let r = try await s.send("POST", "/v1/route", ["messages": [["role": "user", "content": "What is the capital of France?"]]], key: TestStack.adminKey, headers: ["x-lucair-quality-bar": "0.05"])
            #expect(r.json["quality_bar"]?.doubleValue == 0.05 && r.json["tier"]?.stringValue == "baseline")
            let e = try await s.send("POST", "/v1/route", ["messages": [["role": "user", "content": "x"]]], key: TestStack.adminKey, headers: ["x-lucair-quality-bar": "1.5"])
            #expect(e.status == 400 && e.json["error"]?["param"]?.stringValue == "x-lucair-quality-bar")
            // A key's own bar beats its plan's.
            let t = try await s.tenant("picky", plan: "pro")
            let k = try await s.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["name": "lenient", "scopes": ["quality_bar": .double(0.05)]], key: TestStack.adminKey)
            let key = try #require(k.json["key"]?.stringValue)
            try await Task.sleep(for: .milliseconds(50))
            let viaKey = try await s.send("POST", "/v1/route", ["messages": [["role": "user", "content": .string(Self.hardMath)]]], key: key)
            #expect(viaKey.json["quality_bar"]?.doubleValue == 0.05, "\(viaKey.body)")
            let viaPlan = try await s.send("POST", "/v1/route", ["messages": [["role": "user", "content": .string(Self.hardMath)]]], key: t.user)
            #expect(viaPlan.json["quality_bar"]?.doubleValue == 0.6)
        }
    }

    @Test func aStarterPlanIsClampedToItsCeilingAndExplicitModelsAreHonoured() async throws {
        try await TestStack.with(tweak: TenancyTests.planTweak) { s in
            let t = try await s.tenant("small", plan: "tiny")
            let r = try await s.send("POST", "/v1/chat/completions", ["model": "auto", "messages": [["role": "user", "content": .string(Self.hardMath)]]], key: t.user)
            #expect(r.status == 200 && r.headers["x-lucair-tier"] == "baseline")
            #expect(r.headers["x-lucair-route-reason"]?.contains("plan_ceiling") == true)
            // An explicit model the key may use is served as named, whatever the router thinks.
            let explicit = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "claude-haiku-4-5", content: "hello"))
            #expect(explicit.headers["x-lucair-tier"] == "fast" && explicit.headers["x-lucair-route-reason"] == "explicit_model")
            #expect(explicit.headers["x-lucair-route-score"] == nil)
            let cheap = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "ministral-8b", content: Self.hardMath))
            #expect(cheap.headers["x-lucair-tier"] == "baseline" && cheap.headers["x-lucair-route-reason"] == "explicit_model")
        }
    }

    @Test func thinkingBlocksNeverReachAnotherModelUnderAuto() async throws {
        try await TestStack.with { s in
            let body: JSONValue = [
                "model": "auto", "reasoning_effort": "high",
                "messages": [
                    ["role": "user", "content": "What's the weather in Paris? Think it through."],
                    ["role": "assistant", "content": nil,
                     "thinking_blocks": [["type": "thinking", "thinking": "use the tool", "signature": "sig-from-another-model"]],
                     "tool_calls": [["id": "t1", "type": "function", "function": ["name": "weather", "arguments": "{}"]]]],
                    ["role": "tool", "tool_call_id": "t1", "content": "18C and sunny"],
                ],
                "tools": [["type": "function", "function": ["name": "weather", "parameters": ["type": "object"]]]],
            ]
            let r = try await s.send("POST", "/v1/chat/completions", body, key: TestStack.adminKey)
            #expect(r.status == 200, "\(r.body)")
            #expect(r.headers["x-lucair-route-reason"]?.contains("thinking_stripped") == true)
            let sent = r.headers["x-lucair-tier"] == "fast" ? s.stats.lastAnthropic : s.stats.lastOpenAI
            #expect(!sent.jsonString.contains("sig-from-another-model"))
            #expect(!sent.jsonString.contains("thinking_blocks"))
            #expect(sent["thinking"] == nil, "thinking is off for a tool-loop turn whose block was stripped")
            // An explicit model keeps the conversation as the client sent it.
            var explicit = body
            explicit["model"] = "claude-haiku-4-5"
            let e = try await s.send("POST", "/v1/chat/completions", explicit, key: TestStack.adminKey)
            #expect(e.status == 200 && s.stats.lastAnthropic.jsonString.contains("sig-from-another-model"))
        }
    }
}
